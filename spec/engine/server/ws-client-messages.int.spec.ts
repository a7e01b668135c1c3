import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/** Clients send nothing on /ws: a keepalive now and then is ignored, a stream of messages closes the socket. */
describe('messages from clients on /ws, against the simulated exchange', () => {
  let app: App;
  const open: EngineClient[] = [];

  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: '', simOptions: { pushIntervalMs: 100 } });
    await app.ready;
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await app?.stop();
  });

  const connect = async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    open.push(c);
    await c.until((x) => x.historical() !== undefined, 10_000, 'historical');
    return c;
  };
  const lives = (c: EngineClient) => c.messages.filter((m) => m.type === 'live_candle').length;

  it('ignores a few (a keepalive) and closes a socket that sends a stream of them with 1008, others unaffected (reproduced: 407,400 messages in 8 s were read, never closed)', async () => {
    const [quiet, keepalive, flood] = await Promise.all([connect(), connect(), connect()]);
    for (let i = 0; i < 5; i++) keepalive.send('ping');
    for (let i = 0; i < 2000; i++) flood.send('x'.repeat(1000));
    await flood.until((x) => x.closeCode !== undefined, 10_000, 'the flood closed');
    expect(flood.closeCode).toBe(1008);
    expect(flood.messages.at(-1)).toMatchObject({ type: 'error', code: 'client_messages' });
    // The others keep their stream.
    const [q, k] = [lives(quiet), lives(keepalive)];
    await quiet.until((x) => lives(x) > q + 2, 5000, 'live candles on the quiet socket');
    await keepalive.until((x) => lives(x) > k + 2, 5000, 'live candles on the keepalive socket');
    expect([quiet.closeCode, keepalive.closeCode]).toEqual([undefined, undefined]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^engine_ws_message_flood_closed_total(\{[^}]*\})? 1$/m);
  });

  it('counts pings and pongs as messages: a flood of either closes the socket with 1008 (reproduced: 1.8 M pings in 8 s, 6.6 s of engine CPU, never closed)', async () => {
    for (const kind of ['ping', 'pong'] as const) {
      const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
      const got: Array<{ type: string; code?: string }> = [];
      ws.on('message', (d: Buffer) => got.push(JSON.parse(d.toString()) as { type: string; code?: string }));
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('error', () => {});
      await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
      // A few, as a client's keepalive: nothing happens.
      for (let i = 0; i < 5; i++) ws[kind]();
      await new Promise((r) => setTimeout(r, 300));
      expect(ws.readyState).toBe(WebSocket.OPEN);
      for (let i = 0; i < 2000 && ws.readyState === WebSocket.OPEN; i++) ws[kind]();
      expect(await closed, kind).toBe(1008);
      expect(got.at(-1), kind).toMatchObject({ type: 'error', code: 'client_messages' });
    }
  });
});
