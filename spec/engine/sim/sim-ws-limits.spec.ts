import { afterEach, describe, expect, it } from 'vitest';
import { type SimExchange, type SimOptions, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { sleep, StreamClient } from './stream-client.ts';

/** Binance's connection limits, enforced by the simulator against a real `ws` client. */
let sim: SimExchange | undefined;
const clients: StreamClient[] = [];

async function start(opts: SimOptions): Promise<SimExchange> {
  sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 100, ...opts });
  return sim;
}
async function connect(path: string): Promise<StreamClient> {
  const c = new StreamClient(`${sim!.wsUrl}${path}`);
  clients.push(c);
  await c.until(() => c.open || c.error !== undefined || c.closeCode !== undefined, 3000, 'open or refused');
  return c;
}

describe('simulated exchange: Binance WS limits', () => {
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await sim?.close();
    sim = undefined;
  });

  it('streams per connection: up to the limit is fine; one more by SUBSCRIBE gets code 4 and close 1008, nothing added', async () => {
    const s = await start({ maxStreamsPerConnection: 3 });
    const c = await connect('/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m');
    c.send({ method: 'SUBSCRIBE', params: ['solusdt@kline_1m', 'btcusdt@kline_1m'], id: 1 }); // one new: 3 in all
    expect(await c.reply(1)).toEqual({ result: null, id: 1 });
    expect(s.subscriptions()).toEqual([['btcusdt@kline_1m', 'ethusdt@kline_1m', 'solusdt@kline_1m']]);
    expect(s.stats.limitCloses).toBe(0);
    c.send({ method: 'SUBSCRIBE', params: ['btcusdt@kline_5m'], id: 2 });
    expect(await c.reply(2)).toEqual({ error: { code: 4, msg: 'Too many subscriptions' }, id: 2 });
    await c.until(() => c.closeCode !== undefined, 3000, 'close');
    expect(c.closeCode).toBe(1008);
    expect(s.stats.limitCloses).toBe(1);
    expect(s.subscriptions()).toEqual([]);
  });

  it('streams per connection: a URL naming more than the limit is answered with code 4 and closed', async () => {
    const s = await start({ maxStreamsPerConnection: 2 });
    const c = await connect('/ws/btcusdt@kline_1m/ethusdt@kline_1m/solusdt@kline_1m');
    await c.until(() => c.closeCode !== undefined, 3000, 'close');
    expect(c.messages()).toEqual([{ error: { code: 4, msg: 'Too many subscriptions' }, id: null }]);
    expect(c.closeCode).toBe(1008);
    expect(s.stats.limitCloses).toBe(1);
  });

  it('incoming messages: 5 a second spread out is fine; a 6th within the second closes the connection 1008', async () => {
    const s = await start({});
    const c = await connect('/ws');
    for (let i = 1; i <= 10; i++) {
      c.send({ method: 'LIST_SUBSCRIPTIONS', id: i });
      await sleep(220); // under 5 a second
    }
    await c.reply(10);
    expect(c.open).toBe(true);
    expect(s.stats.limitCloses).toBe(0);
    for (let i = 11; i <= 16; i++) c.send({ method: 'LIST_SUBSCRIPTIONS', id: i });
    await c.until(() => c.closeCode !== undefined, 3000, 'close');
    expect(c.closeCode).toBe(1008);
    expect(s.stats.limitCloses).toBe(1);
    // Five were answered; the sixth was not.
    expect(c.messages().filter((m) => (m as { id: number }).id > 10).length).toBeLessThanOrEqual(5);
  });

  it.each([['pings'], ['pongs']])('incoming messages: %s count too', async (kind) => {
    const s = await start({ maxIncomingPerSecond: 3 });
    const c = await connect('/ws/btcusdt@kline_1m');
    const send = () => (kind === 'pings' ? c.ws.ping() : c.ws.pong());
    for (let i = 0; i < 3; i++) send();
    await sleep(300);
    expect(c.open).toBe(true);
    send();
    await c.until(() => c.closeCode !== undefined, 3000, 'close');
    expect(c.closeCode).toBe(1008);
    expect(s.stats.limitCloses).toBe(1);
  });

  it('incoming messages: the pongs a client answers the server’s pings with count, so pings every 150 ms alone cut it off', async () => {
    const s = await start({ pingIntervalMs: 150 });
    const c = await connect('/ws/btcusdt@kline_1m'); // ws answers every ping with a pong by itself
    await c.until(() => c.closeCode !== undefined, 5000, 'close');
    expect(c.closeCode).toBe(1008);
    expect(s.stats.limitCloses).toBe(1);
    expect(s.stats.pongsReceived).toBeGreaterThanOrEqual(5); // five fit in a second; the one over is not counted
  });

  it('new connections per 5 minutes: beyond the limit the upgrade is refused with 429 and counted', async () => {
    const s = await start({ maxConnectionsPer5Min: 3 });
    const ok = await Promise.all([connect('/ws'), connect('/stream'), connect('/ws/btcusdt@kline_1m')]);
    expect(ok.every((c) => c.open)).toBe(true);
    ok[0]!.close(); // closing one frees no room: the limit counts new connections
    const refused = await connect('/ws');
    await refused.until(() => refused.error !== undefined, 3000, 'refusal');
    expect(refused.error!.message).toMatch(/429/);
    expect(s.stats.refusedConnections).toBe(1);
    expect(s.stats.wsConnectAttempts).toBe(4);
  });

  it('/stream without streams takes SUBSCRIBE and delivers combined frames; subscriptions() lists each connection', async () => {
    const s = await start({});
    const a = await connect('/stream');
    const b = await connect('/ws');
    a.send({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m', 'ethusdt@kline_1h'], id: 1 });
    expect(await a.reply(1)).toEqual({ result: null, id: 1 });
    b.send({ method: 'SUBSCRIBE', params: ['solusdt@kline_5m'], id: 'b1' });
    expect(await b.reply('b1')).toEqual({ result: null, id: 'b1' });
    expect(s.subscriptions()).toEqual([['btcusdt@kline_1m', 'ethusdt@kline_1h'], ['solusdt@kline_5m']]);
    await a.until(() => a.klines('ethusdt@kline_1h').length > 0, 3000, 'combined frames');
    expect(a.messages().find((m) => (m as { stream?: string }).stream === 'btcusdt@kline_1m')).toMatchObject({ data: { e: 'kline', s: 'BTCUSDT' } });
    a.send({ method: 'UNSUBSCRIBE', params: ['btcusdt@kline_1m'], id: 2 });
    expect(await a.reply(2)).toEqual({ result: null, id: 2 });
    expect(s.subscriptions()).toEqual([['ethusdt@kline_1h'], ['solusdt@kline_5m']]);
  });

  it('klinesRequests counts answered klines and uiKlines requests per symbol and interval', async () => {
    const s = await start({});
    const get = (path: string) => fetch(`${s.restUrl}${path}`).then((r) => r.status);
    expect(await get('/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5')).toBe(200);
    expect(await get('/api/v3/uiKlines?symbol=BTCUSDT&interval=1m&limit=5')).toBe(200);
    expect(await get('/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=5')).toBe(200);
    expect(await get('/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=5')).toBe(200);
    expect(await get('/api/v3/klines?symbol=BTCUSDT&interval=7m')).toBe(400);
    expect(s.klinesRequests('BTCUSDT', '1m')).toBe(2);
    expect(s.klinesRequests('BTCUSDT')).toBe(3);
    expect(s.klinesRequests('ETHUSDT', '1m')).toBe(1);
    expect(s.klinesRequests('SOLUSDT')).toBe(0);
  });
});
