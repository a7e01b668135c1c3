import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createRedisBarStore } from '../../../engine/src/store/redis-bar-store.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';

const M = 60_000;
const bar = (i: number): Bar => ({ openTime: i * M, open: 100, high: 200, low: 50, close: 100 + i, volume: i, closed: true });
const id = seriesId('BTCUSDT', '1m');

/** A replay's store writes under a fence: the key of the slot it holds, and its token (replay-slot.ts). */
describe.runIf(await hasRedis('a fenced redis bar store'))('a fenced store', () => {
  const P = `spec-store-fence-${process.pid}:`;
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    await deletePrefix(redis, P);
    redis.disconnect();
  });
  let made = 0;
  const open = (lines: string[] = []) => {
    const prefix = `${P}${++made}:`;
    const fence = { key: `${prefix}slot`, token: 'mine', leaseMs: 15_000 };
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 50, keyPrefix: prefix, fence, log: (l, m) => void lines.push(`${l} ${m}`) });
    return { store, fence, candles: `${prefix}candles:BTCUSDT:1m` };
  };
  const stored = async (key: string) => (await redis.zrange(key, 0, -1, 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number);

  it("writes while its fence key holds its token; once another holds it, writes nothing more and serves from memory (reproduced: a replay that lost its slot wrote on into the next holder's series)", async () => {
    const lines: string[] = [];
    const { store, fence, candles } = open(lines);
    await redis.set(fence.key, fence.token);
    store.upsert(id, [bar(1), bar(2)]);
    await store.flush();
    expect(await stored(candles)).toEqual([1 * M, 2 * M]);

    // Another replay took the slot (this one could not renew it), and writes its own series there.
    await redis.set(fence.key, 'theirs');
    await redis.zadd(candles, 9 * M, 'theirs');
    store.upsert(id, [bar(3)]);
    await until(() => /another holder/.test(store.health().lastError ?? ''), 5000, 'the fence refused');
    store.upsert(id, [bar(4)]);
    await store.flush();
    expect(await stored(candles)).toEqual([1 * M, 2 * M, 9 * M]);
    expect(await redis.get(fence.key)).toBe('theirs');
    // Its clients lose nothing: memory holds every bar, none of the other's.
    expect(store.window(id).last(10)).toEqual([bar(1), bar(2), bar(3), bar(4)]);
    expect(await store.range(id, 1e15, 10)).toEqual([bar(1), bar(2), bar(3), bar(4)]);
    expect(store.health()).toMatchObject({ kind: 'redis', reachable: false, pendingWrites: 0 });
    // Nor is the other's series set to expire by a release here.
    store.release(id);
    await store.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(await redis.pttl(candles)).toBe(-1);
    // Said once, with nothing left pending to be said lost at the stop.
    await store.close();
    expect(lines.filter((l) => /another holder/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /lost/.test(l))).toEqual([]);
  });

  it('takes its fence key again when Redis lost it (restarted without its data) and writes on', async () => {
    const { store, fence, candles } = open();
    store.upsert(id, [bar(1)]);
    await store.flush();
    // A fresh key is taken by the first write, for the lease.
    expect(await redis.get(fence.key)).toBe(fence.token);
    await redis.del(fence.key);
    store.upsert(id, [bar(2)]);
    await store.flush();
    expect(await stored(candles)).toEqual([1 * M, 2 * M]);
    expect(await redis.get(fence.key)).toBe(fence.token);
    expect(await redis.pttl(fence.key)).toBeGreaterThan(10_000);
    expect(store.health()).toMatchObject({ reachable: true, pendingWrites: 0 });
    await store.close();
  });
});
