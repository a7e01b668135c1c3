import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { bucketOpen, parseTimeZone } from '../../../engine/src/domain/interval.ts';
import { type KlineEvent, type KlinePayload, sleep, StreamClient } from './stream-client.ts';

const M = 60_000;
let sim: SimExchange;
const clients: StreamClient[] = [];
const connect = (path: string) => {
  const c = new StreamClient(`${sim.wsUrl}${path}`);
  clients.push(c);
  return c;
};

async function restRow(symbol: string, interval: string, openTime: number): Promise<unknown[]> {
  const res = await fetch(`${sim.restUrl}/api/v3/klines?symbol=${symbol}&interval=${interval}&startTime=${openTime}&endTime=${openTime}`);
  const [row] = (await res.json()) as unknown[][];
  return row!;
}

/** The REST row a final kline event must match field by field. */
const asRow = (k: KlinePayload) => [k.t, k.o, k.h, k.l, k.c, k.v, k.T, k.q, k.n, k.V, k.Q, k.B];

/** Events grouped by open time, in arrival order. */
function byOpen(events: KlineEvent[]): Map<number, KlineEvent[]> {
  const groups = new Map<number, KlineEvent[]>();
  for (const e of events) groups.set(e.k.t, [...(groups.get(e.k.t) ?? []), e]);
  return groups;
}

describe('simulated exchange WebSocket streams', () => {
  beforeAll(async () => {
    // 60x clock and 50 ms pushes: a 1m candle closes about every second of real time.
    // Pings every 100 ms draw 10 pongs a second: the incoming-message limit is raised to allow them.
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 50, clockSpeed: 60, pingIntervalMs: 100, maxIncomingPerSecond: 100 });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('combined: forming updates, then exactly one final per candle, equal to REST and truth()', async () => {
    const c = connect('/stream?streams=btcusdt@kline_1m/ethusdt@kline_5m');
    const finals = () => c.klines('btcusdt@kline_1m').filter((e) => e.k.x);
    await c.until(() => finals().length >= 2, 8000, 'two finals');
    await sleep(150); // a duplicate final would come with the next pushes

    for (const m of c.messages()) expect(m).toMatchObject({ stream: expect.stringMatching(/^(btcusdt@kline_1m|ethusdt@kline_5m)$/), data: { e: 'kline' } });
    expect(c.klines('ethusdt@kline_5m').length).toBeGreaterThan(0);

    const events = c.klines('btcusdt@kline_1m');
    const groups = byOpen(events);
    const opens = [...groups.keys()];
    expect(opens).toEqual([...opens].sort((a, b) => a - b)); // open times never go back
    const closedOpens = opens.filter((t) => groups.get(t)!.some((e) => e.k.x));
    expect(closedOpens.length).toBeGreaterThanOrEqual(2);
    for (const t of closedOpens) {
      const group = groups.get(t)!;
      expect(group.filter((e) => e.k.x)).toHaveLength(1);
      expect(group.at(-1)!.k.x, 'the final is the last event for its open time').toBe(true);
      const fin = group.at(-1)!;
      expect(fin).toMatchObject({ e: 'kline', s: 'BTCUSDT', k: { t, T: t + M - 1, s: 'BTCUSDT', i: '1m', B: '0' } });
      expect(fin.E).toBeGreaterThanOrEqual(fin.k.T);
      expect(asRow(fin.k)).toEqual(await restRow('BTCUSDT', '1m', t));
      const [bar] = sim.truth('BTCUSDT', '1m', t, t);
      expect(bar).toEqual({ openTime: t, open: Number(fin.k.o), high: Number(fin.k.h), low: Number(fin.k.l), close: Number(fin.k.c), volume: Number(fin.k.v), closed: true });
      // Forming updates only ever widen towards the final.
      for (let i = 1; i < group.length; i++) {
        const [a, b] = [group[i - 1]!.k, group[i]!.k];
        expect(Number(b.h)).toBeGreaterThanOrEqual(Number(a.h));
        expect(Number(b.l)).toBeLessThanOrEqual(Number(a.l));
        expect(Number(b.v)).toBeGreaterThanOrEqual(Number(a.v));
        expect(b.n).toBeGreaterThanOrEqual(a.n);
        expect(b.o).toBe(a.o);
      }
    }
    // Trade ids run on from one candle to the next.
    const [a, b] = closedOpens.slice(-2).map((t) => groups.get(t)!.at(-1)!.k);
    expect(b!.t).toBe(a!.t + M);
    expect(b!.f).toBe(a!.L + 1);
    expect(b!.L - b!.f + 1).toBe(b!.n);
  });

  it('raw /ws/<s1>/<s2>: bare events for both streams', async () => {
    const c = connect('/ws/btcusdt@kline_1m/solusdt@kline_1h');
    await c.until(() => c.klines('btcusdt@kline_1m').length > 0 && c.klines('solusdt@kline_1h').length > 0, 3000, 'both streams');
    for (const m of c.messages()) expect(m).toMatchObject({ e: 'kline', E: expect.any(Number), s: expect.any(String), k: expect.any(Object) });
    const k = c.klines('solusdt@kline_1h').at(-1)!.k;
    expect(k.t).toBe(bucketOpen(sim.now(), '1h'));
    expect(Object.keys(k).sort()).toEqual(['B', 'L', 'Q', 'T', 'V', 'c', 'f', 'h', 'i', 'l', 'n', 'o', 'q', 's', 't', 'v', 'x'].sort());
  });

  it('each event of a stream starts at another of its subscribers, not always the first subscribed', async () => {
    // The order the simulator writes one event to its sockets (a ROLE=all node and an ingest node
    // side by side in a bench must each be served first as often).
    const order: Array<{ socket: unknown; text: string }> = [];
    const send = WebSocket.prototype.send;
    const spy = vi.spyOn(WebSocket.prototype, 'send').mockImplementation(function (this: WebSocket, ...args: Parameters<WebSocket['send']>) {
      if (typeof args[0] === 'string' && args[0].includes('"e":"kline"')) order.push({ socket: this, text: args[0] });
      return send.apply(this, args);
    });
    const a = connect('/ws/solusdt@kline_1m');
    await a.until(() => a.klines('solusdt@kline_1m').length > 0, 5000, 'a streaming');
    const b = connect('/ws/solusdt@kline_1m');
    await b.until(() => b.klines('solusdt@kline_1m').length >= 12, 8000, 'twelve events on b');
    spy.mockRestore();
    // Each event went to both sockets, one right after the other: who got it first, per event.
    const firsts: unknown[] = [];
    for (let i = 0; i + 1 < order.length; i++) {
      if (order[i]!.text === order[i + 1]!.text && order[i]!.socket !== order[i + 1]!.socket) firsts.push(order[i++]!.socket);
    }
    expect(firsts.length).toBeGreaterThanOrEqual(10);
    const distinct = [...new Set(firsts)];
    expect(distinct).toHaveLength(2);
    for (const s of distinct) expect(firsts.filter((f) => f === s).length).toBeGreaterThanOrEqual(3);
  });

  it('bare /ws with SUBSCRIBE, LIST_SUBSCRIPTIONS, UNSUBSCRIBE and the combined property', async () => {
    const c = connect('/ws');
    await c.until(() => c.open, 3000, 'open');
    c.send({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m', 'ethusdt@kline_1m'], id: 1 });
    expect(await c.reply(1)).toEqual({ result: null, id: 1 });
    c.send({ method: 'LIST_SUBSCRIPTIONS', id: 'list2' });
    expect(await c.reply('list2')).toEqual({ result: ['btcusdt@kline_1m', 'ethusdt@kline_1m'], id: 'list2' });
    await c.until(() => c.klines('ethusdt@kline_1m').length > 0, 3000, 'eth frames');
    c.send({ method: 'GET_PROPERTY', params: ['combined'], id: 3 });
    expect(await c.reply(3)).toEqual({ result: false, id: 3 });
    c.send({ method: 'UNSUBSCRIBE', params: ['ethusdt@kline_1m'], id: 4 });
    expect(await c.reply(4)).toEqual({ result: null, id: 4 });
    c.send({ method: 'SET_PROPERTY', params: ['combined', true], id: 5 });
    expect(await c.reply(5)).toEqual({ result: null, id: 5 });
    c.send({ method: 'GET_PROPERTY', params: ['combined'], id: 6 });
    expect(await c.reply(6)).toEqual({ result: true, id: 6 });
    const mark = c.texts.length;
    await c.until(() => c.texts.length > mark + 5, 3000, 'frames after the switch');
    await sleep(100);
    const after = c.messages().slice(mark + 1) as Array<{ stream?: string; id?: unknown }>;
    const frames = after.filter((m) => m.id === undefined);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((m) => m.stream === 'btcusdt@kline_1m')).toBe(true);
  });

  it('control errors: codes 0 to 3 in the wire shape {error:{code,msg},id}', async () => {
    const c = connect('/ws');
    await c.until(() => c.open, 3000, 'open');
    c.send({ method: 'SET_PROPERTY', params: ['colour', true], id: 10 });
    expect(await c.reply(10)).toEqual({ error: { code: 0, msg: 'Unknown property' }, id: 10 });
    c.send({ method: 'SET_PROPERTY', params: ['combined', 'yes'], id: 11 });
    expect(await c.reply(11)).toEqual({ error: { code: 1, msg: 'Invalid value type: expected Boolean' }, id: 11 });
    c.send({ method: 'FLY', id: 12 });
    expect(await c.reply(12)).toEqual({ error: { code: 2, msg: expect.stringMatching(/^Invalid request: unknown variant `FLY`, expected one of `SUBSCRIBE`/) }, id: 12 });
    c.send({ params: [], id: 13 });
    expect(await c.reply(13)).toEqual({ error: { code: 2, msg: 'Invalid request: missing field `method`' }, id: 13 });
    c.send({ method: 'LIST_SUBSCRIPTIONS', params: ['x'], id: 14 });
    expect(await c.reply(14)).toEqual({ error: { code: 2, msg: 'Invalid request: too many parameters' }, id: 14 });
    c.send({ method: 'SUBSCRIBE', params: [], id: 'not valid!' });
    c.send('{"method": SUBSCRIBE');
    await c.until(() => c.messages().filter((m) => (m as { id?: unknown } | undefined)?.id === null).length >= 2, 3000, 'two errors with id null');
    const nullIds = c.messages().filter((m) => (m as { id?: unknown } | undefined)?.id === null);
    expect(nullIds).toEqual([
      { error: { code: 2, msg: 'Invalid request: request ID must be an unsigned integer' }, id: null },
      { error: { code: 3, msg: expect.stringContaining('Invalid JSON') }, id: null },
    ]);
    expect(c.open).toBe(true);
  });

  it('a malformed stream name refuses the whole SUBSCRIBE with "invalid stream"; nothing is added', async () => {
    const c = connect('/ws');
    await c.until(() => c.open, 3000, 'open');
    for (const [id, bad] of [[1, 'not a stream'], [2, 'btcusdt'], [3, ''], [4, 42]] as const) {
      c.send({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m', bad], id });
      expect(await c.reply(id)).toEqual({ error: { code: 2, msg: 'Invalid request: invalid stream' }, id });
    }
    c.send({ method: 'UNSUBSCRIBE', params: ['x y'], id: 5 });
    expect(await c.reply(5)).toEqual({ error: { code: 2, msg: 'Invalid request: invalid stream' }, id: 5 });
    c.send({ method: 'LIST_SUBSCRIPTIONS', id: 6 });
    expect(await c.reply(6)).toEqual({ result: [], id: 6 });
  });

  it('upper-case or unknown stream names are acknowledged and deliver nothing', async () => {
    const c = connect('/ws');
    await c.until(() => c.open, 3000, 'open');
    c.send({ method: 'SUBSCRIBE', params: ['BTCUSDT@kline_1m', 'nopeusdt@kline_1m', 'btcusdt@kline_2m', 'ethusdt@kline_1m'], id: 1 });
    expect(await c.reply(1)).toEqual({ result: null, id: 1 });
    await c.until(() => c.klines('ethusdt@kline_1m').length >= 5, 3000, 'eth frames');
    const symbols = new Set(c.messages().flatMap((m) => ((m as KlineEvent).e === 'kline' ? [`${(m as KlineEvent).s}:${(m as KlineEvent).k.i}`] : [])));
    expect([...symbols]).toEqual(['ETHUSDT:1m']);
  });

  it('more than 1024 streams (the default): error code 4, then close 1008', async () => {
    const c = connect('/ws');
    await c.until(() => c.open, 3000, 'open');
    c.send({ method: 'SUBSCRIBE', params: Array.from({ length: 1024 }, (_, i) => `s${i}usdt@kline_1m`), id: 1 });
    expect(await c.reply(1)).toEqual({ result: null, id: 1 });
    c.send({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: 2 });
    await c.until(() => c.closeCode !== undefined, 3000, 'close');
    expect(c.messages().at(-1)).toEqual({ error: { code: 4, msg: 'Too many subscriptions' }, id: 2 });
    expect(c.closeCode).toBe(1008);
  });

  it('@+08:00 streams use UTC+8 boundaries; E, t and T stay UTC', async () => {
    const c = connect('/stream?streams=btcusdt@kline_1d@%2B08:00/btcusdt@kline_1d');
    await c.until(() => c.klines('btcusdt@kline_1d@+08:00').length > 0 && c.klines('btcusdt@kline_1d').length > 0, 3000, 'both day streams');
    const local = c.klines('btcusdt@kline_1d@+08:00').at(-1)!;
    const utc = c.klines('btcusdt@kline_1d').at(-1)!;
    const tz = parseTimeZone('+08:00');
    expect(local.k.t).toBe(bucketOpen(local.E, '1d', tz));
    expect(local.k.T).toBe(local.k.t + 86_400_000 - 1);
    expect(utc.k.t).toBe(bucketOpen(utc.E, '1d'));
    expect(local.k.t).not.toBe(utc.k.t);
    const res = await fetch(`${sim.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1d&timeZone=%2B08:00&limit=1`);
    const [row] = (await res.json()) as unknown[][];
    expect(row![0]).toBe(local.k.t);
  });

  it('1s streams push every second of sim pace (here every 50 ms) with flat empty seconds', async () => {
    const c = connect('/ws/btcusdt@kline_1s');
    await c.until(() => c.klines('btcusdt@kline_1s').length >= 10, 3000, '1s frames');
    for (const e of c.klines('btcusdt@kline_1s')) {
      expect(e.k.i).toBe('1s');
      expect(e.k.T).toBe(e.k.t + 999);
      if (e.k.n === 0) expect([e.k.f, e.k.L, new Set([e.k.o, e.k.h, e.k.l, e.k.c]).size]).toEqual([-1, -1, 1]);
    }
    // The flat-empty check above ran on at least one empty second (at 50 ms pushes, about half are).
    expect(c.klines('btcusdt@kline_1s').some((e) => e.k.n === 0)).toBe(true);
  });

  it('pings every connection and counts the pongs; counts attempts, open connections and frames', async () => {
    await vi.waitFor(() => expect(sim.stats.wsOpenConnections).toBe(0), { timeout: 3000 }); // earlier tests' clients are gone
    const before = { ...sim.stats };
    const c = connect('/ws/btcusdt@kline_1m');
    await c.until(() => c.open, 3000, 'open');
    expect(sim.stats.wsConnectAttempts).toBe(before.wsConnectAttempts + 1);
    expect(sim.stats.wsOpenConnections).toBe(before.wsOpenConnections + 1);
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await c.until(() => pings >= 2, 3000, 'two pings');
    await c.until(() => sim.stats.pongsReceived >= before.pongsReceived + 2, 3000, 'pongs counted');
    expect(sim.stats.framesSent).toBeGreaterThan(before.framesSent);
    c.close();
    await c.until(() => sim.stats.wsOpenConnections === before.wsOpenConnections, 3000, 'connection gone');
  });

  it('an unknown path is refused with 404', async () => {
    const c = connect('/nope');
    await c.until(() => c.error !== undefined, 3000, 'error');
    expect(c.error!.message).toMatch(/404/);
  });
});
