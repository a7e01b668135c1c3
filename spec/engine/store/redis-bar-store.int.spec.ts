import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { BYTES_PER_BAR } from '../../../engine/src/store/bar-columns.ts';
import type { BarStore } from '../../../engine/src/store/bar-store.ts';
import { createMemoryBarStore } from '../../../engine/src/store/memory-bar-store.ts';
import { createRedisBarStore, MAX_FLUSH_BARS, RELEASED_SERIES_TTL_MS } from '../../../engine/src/store/redis-bar-store.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedis, hasRedisServer, REDIS_URL } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';

const M = 60_000;
const bar = (i: number, close = 100 + i, closed = true): Bar => ({ openTime: i * M, open: 100, high: 200, low: 50, close, volume: i, closed });
const id = seriesId('BTCUSDT', '1m');

/** The contract both stores keep. */
function contract(make: () => BarStore) {
  it('upserts into a capped, sorted window and pages older bars', async () => {
    const store = make();
    store.upsert(id, [bar(1), bar(2), bar(3, 1, false)]);
    store.upsert(id, [bar(3, 7)]);
    for (let i = 4; i <= 60; i++) store.upsert(id, [bar(i)]);
    const w = store.window(id);
    expect(w.size).toBe(50);
    expect(w.newest()).toEqual(bar(60));
    expect(w.oldest()).toEqual(bar(11));
    expect(await store.range(id, 20 * M, 5)).toEqual([16, 17, 18, 19, 20].map((i) => bar(i)));
    await store.close();
  });

  it('keeps series apart, replaces the forming bar in place and reports health', async () => {
    const store = make();
    const eth = seriesId('ETHUSDT', '5m');
    store.upsert(id, [bar(1), bar(2, 1, false)]);
    store.upsert(id, [bar(2, 3, false)]);
    store.upsert(eth, [bar(9)]);
    const version = store.window(id).version;
    store.upsert(id, [bar(2, 3, false)]);
    expect(store.window(id).version).toBe(version);
    expect(store.window(id).last(10)).toEqual([bar(1), bar(2, 3, false)]);
    expect(store.window(eth).last(10)).toEqual([bar(9)]);
    expect(store.window(seriesId('SOLUSDT', '1m')).size).toBe(0);
    await store.flush();
    expect(store.health()).toMatchObject({ kind: store.kind, pendingWrites: 0 });
    expect(await store.range(id, 1e15, 10)).toEqual([bar(1), bar(2, 3, false)]);
    expect(await store.range(id, 0, 10)).toEqual([]);
    await store.close();
  });

  it('releases a series: its window and bytes go, other series stay, a later write starts a fresh window', async () => {
    const store = make();
    const eth = seriesId('ETHUSDT', '5m');
    for (let i = 1; i <= 20; i++) store.upsert(id, [bar(i)]);
    store.upsert(eth, [bar(9)]);
    // Columns grow 8 -> 16 -> 32 slots for 20 bars; ETH holds one bar in 8 slots.
    expect(store.stats()).toEqual({ series: 2, bars: 21, bytes: (32 + 8) * BYTES_PER_BAR });
    store.release(id);
    expect(store.stats()).toEqual({ series: 1, bars: 1, bytes: 8 * BYTES_PER_BAR });
    expect(store.window(eth).last(5)).toEqual([bar(9)]);
    store.upsert(id, [bar(30)]);
    expect(store.window(id).last(5)).toEqual([bar(30)]);
    await store.close();
  });
}

describe('memory store', () => contract(() => createMemoryBarStore({ bufferSize: 50 })));

describe.runIf(await hasRedis('redis bar store'))('redis store', () => {
  const prefix = `test:store:${process.pid}:`;
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  let made = 0;
  contract(() => createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}c${++made}:` }));

  it('still persists the writes pending when a series is released; Redis keeps a released series for RELEASED_SERIES_TTL_MS, one live again for good', async () => {
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}rel:` });
    const other = seriesId('ETHUSDT', '1m');
    for (let i = 1; i <= 20; i++) store.upsert(id, [bar(i)]);
    store.upsert(other, [bar(1)]);
    store.release(id);
    await store.flush();
    const r = new Redis(REDIS_URL);
    const ttl = () => r.pttl(`${prefix}rel:candles:BTCUSDT:1m`);
    expect(await ttl()).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
    expect(await r.pttl(`${prefix}rel:candles:ETHUSDT:1m`)).toBe(-1);
    expect(store.window(id).size).toBe(0);
    expect(await store.range(id, 1e15, 50)).toEqual(Array.from({ length: 20 }, (_, k) => bar(k + 1)));
    // Live again: the window above was made anew, and the key is kept.
    await until(async () => (await ttl()) === -1);
    r.disconnect();
    await store.close();
  });

  it('keeps at most maxFreedKept released series: one more released drops the oldest one\'s key now; one live again is not counted', async () => {
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}freed:`, maxFreedKept: 2 });
    const ids = ['AAAUSDT', 'BBBUSDT', 'CCCUSDT', 'DDDUSDT', 'EEEUSDT'].map((s) => seriesId(s, '1m'));
    for (const x of ids) store.upsert(x, [bar(1), bar(2)]);
    await store.flush();
    const r = new Redis(REDIS_URL);
    const ttls = () => Promise.all(ids.map((x) => r.pttl(`${prefix}freed:candles:${x.symbol}:1m`)));
    const [a, b, c, d, e] = ids as [ReturnType<typeof seriesId>, ReturnType<typeof seriesId>, ReturnType<typeof seriesId>, ReturnType<typeof seriesId>, ReturnType<typeof seriesId>];
    store.release(a);
    store.release(b);
    await until(async () => (await ttls()).slice(0, 2).every((t) => t > RELEASED_SERIES_TTL_MS - 60_000));
    store.release(c);
    // a is the oldest of three: gone at once; b and c stay for the hour.
    await until(async () => (await ttls())[0] === -2);
    expect((await ttls()).slice(1, 3).every((t) => t > RELEASED_SERIES_TTL_MS - 60_000)).toBe(true);
    // b live again (and written): kept for good, and no longer counted, so d's release drops nothing.
    store.upsert(b, [bar(3)]);
    await store.flush();
    store.release(d);
    await store.flush();
    await until(async () => (await ttls())[3]! > RELEASED_SERIES_TTL_MS - 60_000);
    const [, tb, tc, , te] = await ttls();
    expect(tb).toBe(-1);
    expect(tc).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
    expect(te).toBe(-1);
    // e released: c (the oldest of c, d, e) goes.
    store.release(e);
    await until(async () => (await ttls())[2] === -2);
    expect((await ttls())[3]).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
    await store.close();
    // The count is Redis's, not the process's: after a restart, one more freed still drops the
    // oldest (d). Reproduced: a count in memory started from zero and dropped nothing.
    const again = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}freed:`, maxFreedKept: 2 });
    const f = seriesId('FFFUSDT', '1m');
    again.upsert(f, [bar(1)]);
    await again.flush();
    again.release(f);
    await until(async () => (await ttls())[3] === -2);
    expect((await ttls())[4]).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
    expect(await r.pttl(`${prefix}freed:candles:FFFUSDT:1m`)).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
    r.disconnect();
    await again.close();
  });

  it('a series set to expire by an earlier release (here, or by a process before) is kept once it is live and written again', async () => {
    const r = new Redis(REDIS_URL);
    const key = `${prefix}revived:candles:BTCUSDT:1m`;
    await r.zadd(key, 60_000, 'x');
    await r.pexpire(key, 600_000);
    // Made before the store's connection is ready: its first write makes the key permanent.
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}revived:` });
    store.upsert(id, [bar(2)]);
    await store.flush();
    expect(await r.pttl(key)).toBe(-1);
    r.disconnect();
    await store.close();
  });

  it('writes more than one pipeline holds (MAX_FLUSH_BARS) in several, every bar of every series landing', async () => {
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 1000, keyPrefix: `${prefix}big:` });
    const ids = Array.from({ length: 3 * (MAX_FLUSH_BARS / 1000) + 1 }, (_, k) => seriesId(`S${k}USDT`, '1m'));
    for (const s of ids) store.upsert(s, Array.from({ length: 1000 }, (_, i) => bar(i + 1)));
    await store.flush();
    const r = new Redis(REDIS_URL);
    try {
      const counts = await Promise.all(ids.map((s) => r.zcard(`${prefix}big:candles:${s.symbol}:${s.interval}`)));
      expect(counts).toEqual(ids.map(() => 1000));
      expect(store.health().pendingWrites).toBe(0);
    } finally {
      await r.del(...ids.map((s) => `${prefix}big:candles:${s.symbol}:${s.interval}`));
      r.disconnect();
      await store.close();
    }
  });

  it('reads a page beyond the hot window from Redis in one round trip', async () => {
    const writer = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}r:` });
    await writer.restore(id);
    for (let i = 1; i <= 50; i++) writer.upsert(id, [bar(i)]);
    await writer.close();
    const reader = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}r:` });
    await reader.restore(seriesId('ETHUSDT', '1m'));
    expect(await reader.range(id, 20 * M, 3)).toEqual([bar(18), bar(19), bar(20)]);
    await reader.close();
  });

  it('persists as a sorted set capped at BUFFER_SIZE, one member per open time, and restores it', async () => {
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 30, keyPrefix: prefix });
    expect(await store.restore(id)).toBeUndefined();
    for (let i = 1; i <= 40; i++) {
      store.upsert(id, [bar(i, 1, false)]);
      store.upsert(id, [bar(i, 2, false)]);
      store.upsert(id, [bar(i)]);
    }
    await store.flush();
    const key = `${prefix}candles:BTCUSDT:1m`;
    expect(await redis.zcard(key)).toBe(30);
    expect(JSON.parse((await redis.zrange(key, -1, -1))[0]!)).toEqual([40 * M, 100, 200, 50, 140, 40, 1]);
    await store.close();
    const again = createRedisBarStore({ url: REDIS_URL, bufferSize: 30, keyPrefix: prefix });
    expect(await again.restore(id)).toEqual(bar(40));
    expect(again.window(id).last(100)).toEqual(Array.from({ length: 30 }, (_, k) => bar(k + 11)));
    await again.close();
  });

  it('coalesces a burst of updates to one forming bar into few writes', async () => {
    let writes = 0;
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 30, keyPrefix: `${prefix}burst:`, metrics: { barsWritten: (n) => (writes += n), writeErrors: () => {} } });
    await store.restore(id);
    for (let k = 1; k <= 1000; k++) store.upsert(id, [bar(1, k, false)]);
    await store.flush();
    expect(writes).toBe(1);
    expect(await redis.zrange(`${prefix}burst:candles:BTCUSDT:1m`, 0, -1)).toEqual([JSON.stringify([M, 100, 200, 50, 1000, 1, 0])]);
    await store.close();
  });

  it('answers a page with unflushed memory bars over stored ones', async () => {
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}merge:` });
    await store.restore(id);
    for (let i = 1; i <= 10; i++) store.upsert(id, [bar(i)]);
    await store.flush();
    const fresh = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: `${prefix}merge:` });
    await fresh.restore(seriesId('ETHUSDT', '1m'));
    // Same turn as the range call: this write is still only in memory.
    fresh.upsert(id, [bar(10, 999)]);
    expect(await fresh.range(id, 10 * M, 3)).toEqual([bar(8), bar(9), bar(10, 999)]);
    await fresh.close();
    await store.close();
  });

  it('skips and counts malformed members read back', async () => {
    const key = `${prefix}bad:candles:BTCUSDT:1m`;
    await redis.zadd(key, M, JSON.stringify([M, 1, 2, 0, 1, 5, 1]), 2 * M, 'not json', 3 * M, '[1,2]', 4 * M, JSON.stringify([4 * M, 1, 2, 0, 1, 5, 0]));
    let errors = 0;
    const logs: string[] = [];
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 30, keyPrefix: `${prefix}bad:`, metrics: { barsWritten: () => {}, writeErrors: (n) => (errors += n) }, log: (_l, m) => logs.push(m) });
    expect(await store.restore(id)).toEqual({ openTime: 4 * M, open: 1, high: 2, low: 0, close: 1, volume: 5, closed: false });
    expect(store.window(id).size).toBe(2);
    expect(errors).toBe(2);
    expect(logs.some((l) => /malformed/.test(l))).toBe(true);
    await store.close();
  });
});

describe.runIf(await hasRedisServer('redis down then up'))('redis down then up', () => {
  // Each test's own server (killed, paused, restarted): every one started is stopped, not only the last.
  const servers: RedisProcess[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });
  const startRedis = async () => {
    const server = await RedisProcess.start();
    servers.push(server);
    return server;
  };
  const signal = (server: RedisProcess, sig: 'SIGSTOP' | 'SIGCONT') => process.kill(server.pid!, sig);

  it('keeps serving from memory while Redis is down and catches Redis up when it returns', async () => {
    const server = await startRedis();
    const logs: string[] = [];
    const store = createRedisBarStore({ url: `${server.url}/0`, bufferSize: 100, log: (_l, m) => logs.push(m) });
    await store.restore(id);
    store.upsert(id, [bar(1), bar(2)]);
    await store.flush();
    await server.kill();
    await until(() => !store.health().reachable);
    for (let i = 3; i <= 20; i++) store.upsert(id, [bar(i)]);
    expect(store.window(id).newest()).toEqual(bar(20));
    expect(store.health()).toMatchObject({ kind: 'redis', reachable: false });
    expect(store.health().pendingWrites).toBe(18);
    await server.restart();
    await until(() => store.health().reachable && store.health().pendingWrites === 0, 15_000);
    await store.flush();
    const check = new Redis({ port: server.port });
    // Redis restarted empty; the catch-up rewrote the whole hot window, not only what was pending.
    const members = (await check.zrange('candles:BTCUSDT:1m', 0, -1)).map((m) => JSON.parse(m) as number[]);
    expect(members).toEqual(store.window(id).last(100).map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume, 1]));
    expect(members.map((m) => m[0]! / M)).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
    check.disconnect();
    expect(logs.some((l) => /unreachable/.test(l))).toBe(true);
    expect(logs.some((l) => /reachable again/.test(l))).toBe(true);
    await store.close();
  });
  it('says how many writes a stop loses when Redis is down (reproduced: 14 lost, nothing said)', async () => {
    const server = await startRedis();
    const logs: Array<[string, string]> = [];
    const store = createRedisBarStore({ url: `${server.url}/0`, bufferSize: 100, log: (l, m) => logs.push([l, m]) });
    await store.restore(id);
    store.upsert(id, [bar(1)]);
    await store.flush();
    await server.kill();
    await until(() => !store.health().reachable);
    for (let i = 2; i <= 5; i++) store.upsert(id, [bar(i)]);
    await store.close();
    expect(logs).toContainEqual(['warn', expect.stringMatching(/^stopping with 4 bar writes redis did not take \(.+\): they are lost$/)]);
  });

  it('a series released while Redis does not answer still gets its expiry once Redis answers again (its key stayed for good)', async () => {
    const server = await startRedis();
    const store = createRedisBarStore({ url: `${server.url}/0`, bufferSize: 100, commandTimeoutMs: 1500 });
    const other = seriesId('ETHUSDT', '1m');
    await store.restore(id);
    await store.restore(other);
    store.upsert(id, [bar(1), bar(2)]);
    store.upsert(other, [bar(1)]);
    await store.flush();
    const check = new Redis({ port: server.port });
    expect(await check.pttl('candles:BTCUSDT:1m')).toBe(-1);
    // Paused, not killed: its data stays, and the store finds it hung (no command answered).
    signal(server, 'SIGSTOP');
    await until(() => !store.health().reachable, 10_000);
    store.release(id);
    signal(server, 'SIGCONT');
    await until(() => store.health().reachable, 10_000);
    await until(async () => (await check.pttl('candles:BTCUSDT:1m')) > RELEASED_SERIES_TTL_MS - 60_000, 10_000);
    expect(await check.pttl('candles:ETHUSDT:1m')).toBe(-1); // the live one stays for good
    // Live again before its expiry is taken: kept for good, not expired by the old release.
    signal(server, 'SIGSTOP');
    await until(() => !store.health().reachable, 10_000);
    store.release(other);
    store.upsert(other, [bar(2)]);
    signal(server, 'SIGCONT');
    await until(() => store.health().reachable && store.health().pendingWrites === 0, 10_000);
    await store.flush();
    expect(await check.pttl('candles:ETHUSDT:1m')).toBe(-1);
    expect(await check.zcard('candles:ETHUSDT:1m')).toBe(2);
    check.disconnect();
    await store.close();
  });
  it('a series live again while Redis did not answer is kept before the frees of that time count it: the bound of freed series drops none of its bars', async () => {
    const server = await startRedis();
    const store = createRedisBarStore({ url: `${server.url}/0`, bufferSize: 100, commandTimeoutMs: 1500, maxFreedKept: 2 });
    const [a, b, c] = ['AAAUSDT', 'BBBUSDT', 'CCCUSDT'].map((s) => seriesId(s, '1m')) as [ReturnType<typeof seriesId>, ReturnType<typeof seriesId>, ReturnType<typeof seriesId>];
    for (const x of [a, b, c]) store.upsert(x, [bar(1), bar(2)]);
    await store.flush();
    const check = new Redis({ port: server.port });
    const pttl = (x: ReturnType<typeof seriesId>) => check.pttl(`candles:${x.symbol}:1m`);
    store.release(a);
    await until(async () => (await pttl(a)) > RELEASED_SERIES_TTL_MS - 60_000);
    signal(server, 'SIGSTOP');
    await until(() => !store.health().reachable, 10_000);
    // a live again, then b and c freed, all while Redis does not answer: a is the oldest freed series
    // Redis knows of, so counting b and c first (over maxFreedKept) would drop a's bars.
    store.upsert(a, [bar(3)]);
    store.release(b);
    store.release(c);
    signal(server, 'SIGCONT');
    await until(() => store.health().reachable && store.health().pendingWrites === 0, 10_000);
    await store.flush();
    await until(async () => (await pttl(c)) > RELEASED_SERIES_TTL_MS - 60_000, 10_000);
    expect(await pttl(a)).toBe(-1);
    expect(await check.zcard('candles:AAAUSDT:1m')).toBe(3);
    expect(await pttl(b)).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
    expect((await check.zrange('store:freed', 0, -1)).sort()).toEqual([b.key, c.key]);
    check.disconnect();
    await store.close();
  });
});
