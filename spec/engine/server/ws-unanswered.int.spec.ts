import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { until } from '../../helpers/until.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const connected = (app: App) => Number(/engine_clients_connected (\d+)/.exec(app.metrics.render())?.[1] ?? NaN);
const slotsHeld = (app: App) => Number(/engine_ws_address_slots_held (\d+)/.exec(app.metrics.render())?.[1] ?? NaN);
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

  it("keeps its clients through a stall of its own longer than PING_TIMEOUT_MS (reproduced: an edge stopped 70 s closed every client as not reading)", async () => {
    const ws = app.url.replace('http', 'ws');
    const reader = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`);
    clients.push(reader);
    await reader.until((x) => x.historical() !== undefined, 10_000, 'historical');
    await sleep(1000);
    const before = closedUnanswered(app);
    // The whole process stops (the client in it too): no ping goes out, no pong comes in.
    for (const end = Date.now() + 3500; Date.now() < end; );
    await sleep(2500);
    expect(reader.closeCode).toBeUndefined();
    expect(closedUnanswered(app)).toBe(before);
    const live = reader.live().length;
    await reader.until((c) => c.live().length > live, 5000, 'more live candles');
    reader.close();
    await until(() => connected(app) === 0, 5000, 'closed');
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
    const pausedAt = Date.now();
    // The stalled one is closed (after one to two PING_TIMEOUT_MS); a deadline far past that, not a guess.
    await until(() => closedUnanswered(app) - before >= 1, 15_000, 'the stalled socket closed for not reading');
    await until(() => connected(app) === 1, 5000, 'the engine holding the reading socket alone');
    // Three timeouts' worth in all: the reading one is still there, and the only one closed is the stalled one.
    await sleep(Math.max(0, pausedAt + 4500 - Date.now()));
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
      await until(() => closedUnanswered(app) - before >= 1, 15_000, 'the stalled socket closed for not reading');
    } finally {
      clearInterval(timer);
    }
    expect(closedUnanswered(app) - before).toBe(1);
  });
});

/** Whether a WebSocket to `url` opens (closed at once then), or the HTTP status it was refused with. */
function opens(url: string): Promise<true | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.terminate();
      resolve(true);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', () => resolve(0));
  });
}

/**
 * A socket closed for not reading keeps its data in the kernel for minutes after (an orphan once its
 * descriptor goes): its address's slot stays counted for NOT_READING_HOLD_MS, so the cap bounds what
 * an address keeps there (a probe held four times its cap of such sockets from one address).
 */
describe('slots of sockets closed for not reading stay counted a while', () => {
  let app: App;
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: '', pingTimeoutMs: 1500, maxConnectionsPerAddress: 2, notReadingHoldMs: 4000, simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  it('refuses the address a new socket while the closed ones are held (reproduced: freed at once), then serves it again', async () => {
    const url = `${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`;
    const stalled = [new EngineClient(url), new EngineClient(url)];
    clients.push(...stalled);
    await Promise.all(stalled.map((c) => c.until((x) => x.historical() !== undefined, 10_000, 'historical')));
    const before = closedUnanswered(app);
    for (const c of stalled) c.pause();
    await until(() => closedUnanswered(app) - before === 2, 10_000, 'both closed for not reading');
    // The client goes too (its descriptor closes): the engine's close handlers run now, not after uWS's close timeout.
    for (const c of stalled) c.close();
    await until(() => slotsHeld(app) === 2, 10_000, 'two slots held');
    expect(await opens(url)).toBe(429);
    await until(() => slotsHeld(app) === 0, 10_000, 'the hold over');
    expect(await opens(url)).toBe(true);
  }, 40_000);
});
