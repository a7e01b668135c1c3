import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instanceKeys, leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LogFeed } from '../../../engine/src/cluster/edge-feed.ts';
import { FencedWriter, INSTANCE_LOG_TTL_MS } from '../../../engine/src/cluster/fenced-writer.ts';
import { decodeInstanceItem, type InstanceItem, isStatus } from '../../../engine/src/cluster/point-codec.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

const id = seriesId('BTCUSDT', '1m');
const keys = instanceKeys('rsi:period=21', id, 't:');
const lease = leaseKeys('t:');
const pt = (minute: number, value: number, closed = true): SeriesPoint => ({ time: minute * 60_000, value, closed });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redisUp = await hasRedisServer("a derived series instance's log in Redis (own redis-server)");

describe.runIf(redisUp)("a derived series instance's log in Redis (own redis-server)", () => {
  let server: RedisProcess;
  let redis: Redis;
  let sub: Redis;
  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    sub = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    sub?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
    await redis.set(lease.lease, 'tok');
  });
  const writer = () => new FencedWriter({ redis, keyPrefix: 't:', leaseKey: lease.lease, bufferSize: 3, historyUpdates: 100 });

  it('writes a point with the next offset; the same point again is dropped, a forming one never replaces a closed one, a correction is written', async () => {
    const w = writer();
    const published: string[] = [];
    const listener = redis.duplicate();
    await listener.subscribe(keys.channel);
    listener.on('message', (_c, m) => published.push(m));
    const first = await w.writePoint('tok', keys, pt(1, 50, false));
    expect(first).toMatchObject({ kind: 'written', offset: 1 });
    expect(await w.writePoint('tok', keys, pt(1, 50, false))).toMatchObject({ kind: 'dropped', offset: 1 });
    expect(await w.writePoint('tok', keys, pt(1, 51, false))).toMatchObject({ kind: 'written', offset: 2 });
    expect(await w.writePoint('tok', keys, pt(1, 52, true))).toMatchObject({ kind: 'written', offset: 3 });
    expect(await w.writePoint('tok', keys, pt(1, 53, false))).toMatchObject({ kind: 'dropped', offset: 3 });
    expect(await w.writePoint('tok', keys, pt(1, 52, true))).toMatchObject({ kind: 'dropped', offset: 3 });
    expect(await w.writePoint('tok', keys, pt(1, 52.5, true))).toMatchObject({ kind: 'written', offset: 4 });
    // The status: stored above every point (a snapshot has it), written once per change.
    expect(await w.writeStatus('tok', keys, { status: 'failed', error: 'boom at 1' })).toMatchObject({ kind: 'written', offset: 5 });
    expect(await w.writeStatus('tok', keys, { status: 'failed', error: 'boom at 1' })).toMatchObject({ kind: 'dropped', offset: 5 });
    // Bounded: the sorted set keeps bufferSize points and the status.
    for (let m = 2; m <= 6; m++) await w.writePoint('tok', keys, pt(m, m));
    const stored = (await redis.zrange(keys.candles, 0, -1)).map((x) => decodeInstanceItem(x)!);
    expect(stored).toEqual([pt(4, 4), pt(5, 5), pt(6, 6), { status: 'failed', error: 'boom at 1' }]);
    // The log of an instance nobody computes any more goes away on its own.
    for (const k of [keys.candles, keys.pos]) expect(await redis.pttl(k)).toBeGreaterThan(INSTANCE_LOG_TTL_MS - 60_000);
    await sleep(50);
    expect(published.map((m) => m.split(' ')[1])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(new Set(published.map((m) => m.split(' ')[0]))).toEqual(new Set([first.kind === 'written' ? first.epoch : '']));
    listener.disconnect();
  });

  it('a stored point that does not decode is replaced by the next write at its time, in one call or many (reproduced: the instance froze, its window rewritten every 5 s for good)', async () => {
    const w = writer();
    await w.writePoint('tok', keys, pt(1, 50, false));
    // Garbage where the forming point stands, then in the newest-member cache too.
    await redis.zadd(keys.candles, 60_000, '!garbage');
    await redis.hset(keys.pos, 'nt', '60000', 'nm', '!garbage');
    expect(await w.writePoint('tok', keys, pt(1, 51, false))).toMatchObject({ kind: 'written', offset: 2 });
    await redis.hset(keys.pos, 'nm', '!garbage');
    expect((await Promise.all(w.writePoints('tok', keys, [pt(1, 52, true)]))).map((r) => r.kind)).toEqual(['written']);
    expect(await redis.zrangebyscore(keys.candles, 60_000, 60_000)).toHaveLength(1);
    expect(await redis.zrangebyscore(keys.candles, 60_000, 60_000)).not.toContain('!garbage');
  });

  it('many points in one call store, number and publish exactly as one call each (a seed\'s window), in calls of at most 256', async () => {
    const other = instanceKeys('rsi:period=22', id, 't:');
    const w = writer();
    const published: string[] = [];
    const listener = redis.duplicate();
    await listener.subscribe(keys.channel, other.channel);
    listener.on('message', (c, m) => published.push(`${c === keys.channel ? 'one' : 'many'} ${m.split(' ').slice(1).join(' ')}`));
    // Forming and closed versions, repeats and corrections, 600 in all (three calls).
    const points = Array.from({ length: 600 }, (_, i) => pt(Math.floor(i / 3), i % 7 === 0 ? Math.floor(i / 3) : i, i % 3 === 2));
    const one = [];
    for (const p of points) one.push(await w.writePoint('tok', keys, p));
    const before = Number((await redis.info('commandstats')).match(/cmdstat_evalsha:calls=(\d+)/)?.[1] ?? 0);
    const many = await Promise.all(w.writePoints('tok', other, points));
    const calls = Number((await redis.info('commandstats')).match(/cmdstat_evalsha:calls=(\d+)/)?.[1] ?? 0) - before;
    expect(calls).toBeLessThanOrEqual(4);
    expect(many.map((r) => r.kind === 'fenced' ? r.kind : [r.kind, r.offset])).toEqual(one.map((r) => r.kind === 'fenced' ? r.kind : [r.kind, r.offset]));
    expect(await redis.zrange(other.candles, 0, -1)).toEqual(await redis.zrange(keys.candles, 0, -1));
    expect(await redis.hget(other.pos, 'offset')).toBe(await redis.hget(keys.pos, 'offset'));
    for (const k of [other.candles, other.pos]) expect(await redis.pttl(k)).toBeGreaterThan(INSTANCE_LOG_TTL_MS - 60_000);
    await sleep(50);
    const by = (who: string) => published.filter((m) => m.startsWith(who)).map((m) => m.slice(who.length));
    expect(by('many')).toEqual(by('one'));
    // Fenced: the whole call refused, nothing stored.
    await redis.set(lease.lease, 'other');
    expect((await Promise.all(w.writePoints('tok', other, [pt(500, 1)]))).map((r) => r.kind)).toEqual(['fenced']);
    expect(await redis.zcard(other.candles)).toBe(await redis.zcard(keys.candles));
    listener.disconnect();
  });

  it('keeps at most maxFreedKept freed instance logs in the cluster: the oldest freed goes at once, one written again since is kept (reproduced: every one kept its 10 minutes)', async () => {
    const w = new FencedWriter({ redis, keyPrefix: 't:', leaseKey: lease.lease, bufferSize: 3, historyUpdates: 100, maxFreedKept: 2 });
    const labels = ['rsi:period=21', 'rsi:period=22', 'rsi:period=23', 'rsi:period=24'];
    const logs = labels.map((l) => ({ member: `${l}|${id.key}`, keys: instanceKeys(l, id, 't:') }));
    for (const l of logs) await w.writePoint('tok', l.keys, pt(1, 1));
    const [a, b, c, d] = logs as [(typeof logs)[0], (typeof logs)[0], (typeof logs)[0], (typeof logs)[0]];
    expect(await w.freeInstanceLog('tok', a.member, a.keys, 600_000)).toBe(true);
    await sleep(5);
    expect(await w.freeInstanceLog('tok', b.member, b.keys, 600_000)).toBe(true);
    // a is held again and written: kept for a day, no longer a freed one.
    await w.writePoint('tok', a.keys, pt(2, 2));
    await sleep(5);
    await w.freeInstanceLog('tok', c.member, c.keys, 600_000);
    // Three freed, two kept: a (the oldest) was written since, so it is forgotten; b, c stay.
    for (const l of [a, b, c]) expect(await redis.exists(l.keys.candles), l.member).toBe(1);
    await sleep(5);
    await w.freeInstanceLog('tok', d.member, d.keys, 600_000);
    // Now b is the oldest freed beyond the bound: its keys go at once.
    expect(await redis.exists(b.keys.candles, b.keys.pos)).toBe(0);
    for (const l of [a, c, d]) expect(await redis.exists(l.keys.candles), l.member).toBe(1);
    expect(await redis.pttl(a.keys.candles)).toBeGreaterThan(600_000);
    expect(await redis.pttl(d.keys.candles)).toBeLessThanOrEqual(600_000);
    // Fenced: nothing changes.
    await redis.set(lease.lease, 'other');
    expect(await w.freeInstanceLog('tok', a.member, a.keys, 1)).toBe(false);
    expect(await redis.pttl(a.keys.candles)).toBeGreaterThan(600_000);
  });

  it('a Redis full under noeviction takes new points, a batch of them and a cold window as it takes bar updates (reproduced: a new point refused, a correction taken; derived series froze while candles went on)', async () => {
    const w = writer();
    await w.writeStatus('tok', keys, { status: 'live' });
    await w.writePoint('tok', keys, pt(1, 10));
    const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', String(used - 200_000));
    try {
      await expect(redis.set('probe', 'x')).rejects.toThrow(/OOM/);
      expect(await w.writePoint('tok', keys, pt(2, 20, false))).toMatchObject({ kind: 'written', offset: 3 });
      expect(await Promise.all(w.writePoints('tok', keys, [pt(3, 30), pt(4, 40)]))).toMatchObject([{ kind: 'written', offset: 4 }, { kind: 'written', offset: 5 }]);
      const bars = Array.from({ length: 20 }, (_, i) => ({ openTime: (i + 1) * 60_000, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: true }));
      expect(await w.writeWindow('tok', seriesId('ETHUSDT', '1m'), bars)).toMatchObject({ kind: 'seeded' });
      // Capped at the writer's bufferSize (3), as always.
      expect(await redis.zcard('t:candles:ETHUSDT:1m')).toBe(3);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
  });

  it('a stale leader is fenced: nothing stored, nothing published', async () => {
    const w = writer();
    await w.writePoint('tok', keys, pt(1, 1));
    await redis.set(lease.lease, 'other');
    expect(await w.writePoint('tok', keys, pt(2, 2))).toEqual({ kind: 'fenced' });
    expect(await redis.zcard(keys.candles)).toBe(1);
    expect(await redis.hget(keys.pos, 'offset')).toBe('1');
  });

  it('an edge follows the log like a bar series: snapshot, then every later point once, in offset order', async () => {
    const w = writer();
    for (let m = 1; m <= 3; m++) await w.writePoint('tok', keys, pt(m, m));
    await w.writeStatus('tok', keys, { status: 'live' });
    const applied: Array<[number, number | string]> = [];
    let baseline: InstanceItem[] = [];
    const feed = new LogFeed<InstanceItem>(
      { redis, subscriber: sub, bufferSize: 11, historyMaxAgeMs: 60_000 },
      {
        keys: () => keys,
        decode: decodeInstanceItem,
        reset: (_id, snap) => (baseline = [...snap.bars]),
        apply: (_id, offset, item) => applied.push([offset, isStatus(item) ? item.status : item.time / 60_000]),
      },
    );
    const instance = { symbol: id.symbol, interval: id.interval, key: 'rsi:period=21|BTCUSDT:1m' };
    await feed.follow([instance]);
    for (let i = 0; i < 100 && !feed.isLoaded(instance); i++) await sleep(20);
    expect(baseline).toEqual([pt(1, 1), pt(2, 2), pt(3, 3), { status: 'live' }]);
    await w.writePoint('tok', keys, pt(4, 4, false));
    await w.writePoint('tok', keys, pt(4, 4, false)); // a repeat: dropped in Redis, never reaches the edge
    await w.writeStatus('tok', keys, { status: 'failed', error: 'boom' });
    await w.writePoint('tok', keys, pt(4, 4.5));
    for (let i = 0; i < 100 && applied.length < 3; i++) await sleep(20);
    expect(applied).toEqual([
      [5, 4],
      [6, 'failed'],
      [7, 4],
    ]);
    await feed.unfollow(instance);
    feed.stop();
  });

  it('frees what an unfollowed log kept only when it was not followed again before its unsubscribe was answered (freed then, the new follower lost its window)', async () => {
    const feed = new LogFeed<InstanceItem>({ redis, subscriber: sub, bufferSize: 11, historyMaxAgeMs: 60_000 }, { keys: () => keys, decode: decodeInstanceItem, reset: () => {}, apply: () => {} });
    const instance = { symbol: id.symbol, interval: id.interval, key: 'rsi:period=21|BTCUSDT:1m' };
    const freed: string[] = [];
    const free = (i: { key: string }) => void freed.push(i.key);
    await feed.follow([instance]);
    // Followed again while the unsubscribe is in flight (an on-demand series a client took again).
    const gone = feed.unfollowAndFree(instance, free);
    const again = feed.follow([instance]);
    await gone;
    await again;
    expect(freed).toEqual([]);
    expect(feed.follows(instance)).toBe(true);
    await feed.unfollowAndFree(instance, free);
    expect(freed).toEqual([instance.key]);
    feed.stop();
  });
});
