import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const connected = (app: App) => Number(/engine_clients_connected (\d+)/.exec(app.metrics.render())?.[1] ?? NaN);
const closedUnanswered = (app: App) => Number(/engine_ws_unanswered_closed_total (\d+)/.exec(app.metrics.render())?.[1] ?? NaN);

/**
 * A client that never reads its socket: what it is sent sits in the kernel, where the slow-client
 * sweep cannot see it, for as long as it keeps the socket. The engine pings every socket with a payload
 * of its own and closes one that echoes none for PING_TIMEOUT_MS; a client that reads answers by
 * itself and stays.
 */
describe('sockets that answer no ping, against the simulated exchange', () => {
  let app: App;
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: '', pingTimeoutMs: 1500, simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  it('closes a socket that stopped reading (reproduced: kept for good), keeps one that reads', async () => {
    const ws = app.url.replace('http', 'ws');
    const reading = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`);
    const stalled = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`);
    clients.push(reading, stalled);
    await Promise.all([reading, stalled].map((c) => c.until((x) => x.historical() !== undefined, 10_000, 'historical')));
    const before = closedUnanswered(app);
    expect(connected(app)).toBe(2);
    stalled.pause();
    // Three timeouts' worth: the stalled one is closed, the reading one still gets live candles.
    await sleep(4500);
    // The engine holds only the reading one now.
    expect(connected(app)).toBe(1);
    expect(closedUnanswered(app) - before).toBe(1);
    const live = reading.live().length;
    await reading.until((c) => c.live().length > live, 5000, 'more live candles');
    expect(reading.closeCode).toBeUndefined();
  });

  it('closes a socket that reads nothing but writes pongs of its own (reproduced: kept for good while it sent one now and then)', async () => {
    const ws = app.url.replace('http', 'ws');
    const stalled = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`);
    clients.push(stalled);
    await stalled.until((x) => x.historical() !== undefined, 10_000, 'historical');
    const before = closedUnanswered(app);
    stalled.pause();
    // Pongs it makes up (empty, or a guess), within the inbound ration: none echoes a ping it never read.
    const timer = setInterval(() => stalled.pong(Math.random() < 0.5 ? '' : 'deadbeefdeadbeef'), 1000);
    try {
      await sleep(4500);
    } finally {
      clearInterval(timer);
    }
    expect(closedUnanswered(app) - before).toBe(1);
  });
});
