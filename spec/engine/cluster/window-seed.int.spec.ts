import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeBar } from '../../../engine/src/cluster/bar-codec.ts';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { EdgePositions } from '../../../engine/src/cluster/edge-positions.ts';
import { FencedWriter, MAX_SEED_BARS } from '../../../engine/src/cluster/fenced-writer.ts';
import { SeriesReader } from '../../../engine/src/cluster/series-reader.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * A cold series' whole window goes into Redis in one step when Redis has no log of it (one ZADD, the
 * log starting at offset 1 under a new epoch, one publish), and as updates, in order with the series'
 * later updates, when it has one. Against an own redis-server.
 */
const id = seriesId('BTCUSDT', '1m');
const other = seriesId('ETHUSDT', '1m');
const keys = leaseKeys('w:');
const bar = (minute: number, volume: number, closed = true): Bar => ({ openTime: minute * 60_000, open: 10, high: 12, low: 9, close: 11, volume, closed });
const window = (from: number, n: number) => Array.from({ length: n }, (_, k) => bar(from + k, 1, k < n - 1));

const redisUp = await hasRedisServer('window seed (own redis-server)');

describe.runIf(redisUp)('window seed (own redis-server)', () => {
  let server: RedisProcess;
  let redis: Redis;
  let sub: Redis;
  const heard: Array<[string, string]> = [];
  const reader = () => new SeriesReader(redis, 'w:');
  const writer = (bufferSize = 1000) => new FencedWriter({ redis, keyPrefix: 'w:', leaseKey: keys.lease, bufferSize, historyUpdates: 100 });
  /** What the channel of `s` carried, as `offset member` (epochs checked apart). */
  const carried = (s = id) => heard.filter(([c]) => c === seriesKeys(s, 'w:').channel).map(([, m]) => m.split(' ').slice(1).join(' '));

  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    sub = new Redis(server.url, { maxRetriesPerRequest: 1 });
    await sub.psubscribe('w:ch:*');
    sub.on('pmessage', (_p, c: string, m: string) => heard.push([c, m]));
  });
  afterAll(async () => {
    sub?.disconnect();
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
    await redis.set(keys.lease, 'tok', 'PX', 60_000);
    heard.length = 0;
  });

  it('into a log Redis does not have: one call, every bar kept (up to the cap), offset 1, one publish of the newest; later updates follow under its epoch', async () => {
    const w = writer(500);
    await w.writeWindow('tok', other, window(1, 2)); // the script is loaded, the identity known
    await sub.ping();
    heard.length = 0;
    await redis.config('RESETSTAT');
    const bars = window(1, 720);
    const r = await w.writeWindow('tok', id, bars);
    expect(r).toMatchObject({ kind: 'seeded' });
    const stats = await redis.info('commandstats');
    expect(stats).toMatch(/^cmdstat_evalsha:calls=1,/m);
    expect(stats).not.toMatch(/^cmdstat_publish:calls=(?!1,)/m);
    const snap = await reader().snapshot(id, 1000);
    expect(snap).toMatchObject({ epoch: (r as { epoch: string }).epoch, offset: 1 });
    expect(snap.bars).toEqual(bars.slice(-500));
    // Its history starts after the seed: a resume from before it is a fresh snapshot, not the newest bar alone.
    expect(snap.history).toEqual([]);
    expect(await reader().history(id, (r as { epoch: string }).epoch, 0, 60_000)).toEqual({ ok: false, reason: 'gone' });
    expect(await reader().history(id, (r as { epoch: string }).epoch, 1, 60_000)).toMatchObject({ ok: true, offset: 1, updates: [] });
    // An edge loading it answers a client holding offset 1 with nothing missed, one claiming 0 (no message carries it) with no recovery.
    const positions = new EdgePositions({ updates: 100, maxAgeMs: 600_000 });
    positions.reset(id, snap);
    expect(positions.recover(id, snap.epoch, 1)?.bars).toEqual([]);
    expect(positions.recover(id, snap.epoch, 0)).toBeUndefined();
    // The newest bar grows, then a new one: offsets 2 and 3 of the same epoch; an older version is dropped.
    const grown = { ...bars.at(-1)!, volume: 5 };
    expect(await w.write('tok', id, grown)).toMatchObject({ kind: 'written', offset: 2, epoch: (r as { epoch: string }).epoch });
    expect(await w.write('tok', id, bars.at(-1)!)).toMatchObject({ kind: 'dropped', offset: 2 });
    expect(await w.write('tok', id, bar(721, 1, false))).toMatchObject({ kind: 'written', offset: 3 });
    await sub.ping();
    await redis.ping();
    expect(carried()).toEqual([`1 ${encodeBar(bars.at(-1)!)}`, `2 ${encodeBar(grown)}`, `3 ${encodeBar(bar(721, 1, false))}`]);
  });

  it('into a log Redis has: its bars as updates, each checked against the stored version, before the updates queued behind it (even with a backlog in flight)', async () => {
    const w = writer();
    await w.write('tok', id, bar(3, 7, false)); // the log exists, its bar 3 forming with more volume
    await sub.ping();
    heard.length = 0;
    const live = bar(5, 9, false);
    // Behind the window, the series' next update and a backlog (more than two full calls: calls then go several at a time).
    const done = [w.writeWindow('tok', id, window(1, 5)), w.write('tok', id, live)];
    for (let m = 1; m <= 600; m++) done.push(w.write('tok', other, bar(m, 1)));
    const [r] = await Promise.all(done);
    // Bar 3 of the window is closed: it replaces the forming one (closed beats forming).
    expect(r).toEqual({ kind: 'updates', written: 5, dropped: 0 });
    await sub.ping();
    expect(carried()).toEqual([...window(1, 5), live].map((b, k) => `${k + 2} ${encodeBar(b)}`));
    expect((await reader().snapshot(id, 10)).bars).toEqual([...window(1, 5).slice(0, 4), live]);
  });

  it('into a log that holds most of it: only the bars that differ are sent as updates (the rest counted dropped, one script call for them all)', async () => {
    const w = writer();
    const stored = window(1, 100);
    expect(await w.writeWindow('tok', id, stored)).toMatchObject({ kind: 'seeded' });
    await sub.ping();
    heard.length = 0;
    // Asked again later: bar 100 closed since with more volume, bar 101 new and forming, bar 50 stored differently (a REST correction).
    const again = [...stored.slice(0, 99), bar(100, 3), bar(101, 1, false)];
    again[49] = bar(50, 2);
    await redis.config('RESETSTAT');
    expect(await w.writeWindow('tok', id, again)).toEqual({ kind: 'updates', written: 3, dropped: 98 });
    const stats = await redis.info('commandstats');
    // The window's call, then one batch of its 3 updates: not 101 updates' worth of commands. The batch
    // reads its log's position once for the three (the first would have read it for each).
    expect(stats).toMatch(/^cmdstat_evalsha:calls=2,/m);
    expect(stats).toMatch(/^cmdstat_hmget:calls=1,/m);
    expect(stats).toMatch(/^cmdstat_publish:calls=3,/m);
    await sub.ping();
    expect(carried()).toEqual([bar(50, 2), bar(100, 3), bar(101, 1, false)].map((b, k) => `${k + 2} ${encodeBar(b)}`));
    expect((await reader().snapshot(id, 1000)).bars).toEqual(again);
    // An older version than the stored one differs too, and is dropped by the version check.
    expect(await w.writeWindow('tok', id, [bar(100, 1)])).toEqual({ kind: 'updates', written: 0, dropped: 1 });
    expect((await reader().snapshot(id, 1)).bars).toEqual([bar(101, 1, false)]);
  });

  it.each([
    ['fails (a connection dropped under it)', () => new Promise((_, reject) => setTimeout(() => reject(new Error('Connection is closed.')), 5))],
    ['throws', () => {
      throw new Error('thrown while sending');
    }],
  ])("whose call %s: its bars go as updates, still before the series' updates queued behind it", async (_what, fail) => {
    const w = writer();
    await w.write('tok', other, bar(1, 1)); // the identity is known: the window goes at once
    const r = redis as unknown as { clusterSeedWindow(...a: unknown[]): Promise<unknown> };
    const seed = r.clusterSeedWindow;
    r.clusterSeedWindow = () => ((r.clusterSeedWindow = seed), fail());
    try {
      const live = bar(5, 9, false);
      const [result] = await Promise.all([w.writeWindow('tok', id, window(1, 5)), w.write('tok', id, live)]);
      expect(result).toEqual({ kind: 'updates', written: 5, dropped: 0 });
      await sub.ping();
      expect(carried()).toEqual([...window(1, 5), live].map((b, k) => `${k + 1} ${encodeBar(b)}`));
    } finally {
      r.clusterSeedWindow = seed;
    }
  });

  it('under a stale token: nothing written, nothing published', async () => {
    const w = writer();
    expect(await w.writeWindow('old', id, window(1, 10))).toEqual({ kind: 'fenced' });
    expect(await redis.exists(seriesKeys(id, 'w:').candles, seriesKeys(id, 'w:').pos)).toBe(0);
    await sub.ping();
    expect(carried()).toEqual([]);
  });

  it(`a window of more than ${MAX_SEED_BARS} bars goes as updates (no call of unbounded size)`, async () => {
    const w = writer(20);
    const bars = window(1, MAX_SEED_BARS + 1);
    expect(await w.writeWindow('tok', id, bars)).toEqual({ kind: 'updates', written: bars.length, dropped: 0 });
    const snap = await reader().snapshot(id, 100);
    expect(snap.offset).toBe(bars.length);
    expect(snap.bars).toEqual(bars.slice(-20));
  });
});
