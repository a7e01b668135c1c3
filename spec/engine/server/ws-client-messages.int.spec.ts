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
});
