import { Redis } from 'ioredis';
import { Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../../engine/src/broadcast/hub.ts';
import { instanceDemandKeys, instanceMember } from '../../../engine/src/cluster/cluster-keys.ts';
import { encodeServed } from '../../../engine/src/cluster/demand-member.ts';
import { EdgeSeries } from '../../../engine/src/cluster/edge-series.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { SeriesRegistry } from '../../../engine/src/series/series-registry.ts';
import rsiSeries from '../../../series/rsi.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * A client asks an edge for a derived series and goes before the leader answers; the leader then
 * refuses it (at its caps). The edge kept such an instance for good: nothing deleted a refused one
 * nobody held, and labels are the clients' choice (a code review: 20 asks, 20 kept). A real
 * EdgeSeries over Redis (DB 15, a prefix of its own); the leader's answers are written as it writes them.
 */
const redisUp = await hasRedis('edge series: refused after its clients left (Redis)');

describe.runIf(redisUp)('edge series: refused after its clients left (Redis)', () => {
  const prefix = `spec-edge-refused-${process.pid}-${Date.now()}:`;
  const keys = instanceDemandKeys(prefix);
  let redis: Redis;
  let subscriber: Redis;
  let registry: SeriesRegistry;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    subscriber = new Redis(REDIS_URL);
    registry = new SeriesRegistry([rsiSeries], { bufferSize: 100, log: silentLogger, history: () => [], bars$: () => new Subject<Bar>(), publish: () => {}, onError: () => {} });
  });

  afterAll(async () => {
    registry?.stop();
    subscriber?.disconnect();
    if (redis) await deletePrefix(redis, prefix);
    redis?.disconnect();
  });

  const edgeSeries = () =>
    new EdgeSeries({
      redis,
      subscriber,
      keyPrefix: prefix,
      bufferSize: 100,
      historyMaxAgeMs: 60_000,
      registry,
      keys,
      node: 'edge-a',
      hub: new Hub(100, 'sim'),
      positions: { position: () => ({ epoch: 'e', offset: 0 }) },
      catalog: { isTrading: () => true, isInterval: () => true, intervals: () => ['1m'] },
      maxInstances: 4,
      idleMs: 60_000,
      touchEveryMs: 1000,
    });

  it('keeps none of them once refused', async () => {
    const es = edgeSeries();
    try {
      const bar = seriesId('BTCUSDT', '1m');
      const readies: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20; i++) {
        const parsed = registry.parse(`rsi:period=${20 + i}`, '1m');
        if (!parsed.ok) throw new Error(parsed.error);
        const lease = es.acquire(parsed.value[0]!, bar);
        readies.push(lease.ready.catch(() => undefined));
        lease.release(); // the client went before the leader answered
        await redis.set(keys.served + instanceMember(parsed.value[0]!.label, bar), encodeServed({ state: 'refused', code: 'series_busy', message: 'too many derived series in use' }), 'PX', 10_000);
      }
      await Promise.all(readies);
      expect(es.size).toBe(0);
      expect(es.list()[0]!.instances).toEqual([]);
    } finally {
      es.stop();
    }
  });

  it("a refused client's release leaves the next client's hold alone (it took the next one's watcher: its series was ended under it)", async () => {
    const es = edgeSeries();
    try {
      const bar = seriesId('BTCUSDT', '1m');
      const parsed = registry.parse('rsi:period=31', '1m');
      if (!parsed.ok) throw new Error(parsed.error);
      const req = parsed.value[0]!;
      const id = { ...bar, key: instanceMember(req.label, bar) };
      const servedKey = keys.served + instanceMember(req.label, bar);
      // A is refused and keeps its lease (served a failed instance until it goes).
      await redis.set(servedKey, encodeServed({ state: 'refused', code: 'series_capacity', message: 'the leader is full' }), 'PX', 10_000);
      const a = es.acquire(req, bar);
      await a.ready;
      expect(a.instance.state).toBe('failed');
      // B asks afresh and holds the new entry.
      await redis.del(servedKey);
      const b = es.acquire(req, bar);
      b.ready.catch(() => undefined);
      expect(es.demand.watching(id)).toBe(1);
      a.release();
      expect(es.demand.watching(id)).toBe(1);
      b.release();
      expect(es.demand.watching(id)).toBe(0);
    } finally {
      es.stop();
    }
  });
});
