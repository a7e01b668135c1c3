import { Redis } from 'ioredis';
import { Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../../engine/src/broadcast/hub.ts';
import { instanceDemandKeys, instanceKeys, instanceMember, leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { encodeServed } from '../../../engine/src/cluster/demand-member.ts';
import { EdgeSeries } from '../../../engine/src/cluster/edge-series.ts';
import { FencedWriter } from '../../../engine/src/cluster/fenced-writer.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { SeriesBusyError } from '../../../engine/src/series/series-errors.ts';
import { SeriesRegistry } from '../../../engine/src/series/series-registry.ts';
import rsiSeries from '../../../series/rsi.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';

/**
 * A client asks an edge for a derived series and goes before the leader answers; the leader then
 * refuses it (at its caps). The edge kept such an instance for good: nothing deleted a refused one
 * nobody held, and labels are the clients' choice (a code review: 20 asks, 20 kept). A real
 * EdgeSeries over Redis (DB 15, a prefix of its own); the leader's answers are written as it writes them.
 */
const redisUp = await hasRedis('edge series: refused after its clients left (Redis)');

/** A hub that also records what is published: `topic message` each. */
function recordingHub() {
  const hub = new Hub(100, 'sim');
  const published: string[] = [];
  const publish = hub.publish.bind(hub);
  hub.publish = (topic, message) => {
    published.push(`${topic} ${typeof message === 'function' ? message() : String(message)}`);
    publish(topic, message);
  };
  return { hub, published };
}

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

  const edgeSeries = (touchEveryMs = 1000, hub = new Hub(100, 'sim')) =>
    new EdgeSeries({
      redis,
      subscriber,
      keyPrefix: prefix,
      bufferSize: 100,
      historyMaxAgeMs: 60_000,
      registry,
      keys,
      node: 'edge-a',
      hub,
      positions: { position: () => ({ epoch: 'e', offset: 0 }) },
      catalog: { isTrading: () => true, isInterval: () => true, intervals: () => ['1m'] },
      maxInstances: 4,
      idleMs: 60_000,
      touchEveryMs,
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

  it('a client taking an instance the edge still follows but let go of waits for the leader, and is refused as it refuses (reproduced: served at once, then frozen, never told)', async () => {
    const { hub, published } = recordingHub();
    // Touches every 100 ms: the edge lets go of an instance nobody holds within one.
    const es = edgeSeries(100, hub);
    try {
      const bar = seriesId('BTCUSDT', '1m');
      const parsed = registry.parse('rsi:period=41', '1m');
      if (!parsed.ok) throw new Error(parsed.error);
      const req = parsed.value[0]!;
      const servedKey = keys.served + instanceMember(req.label, bar);
      const lease = leaseKeys(prefix);
      await redis.set(lease.lease, 'token');
      const writer = new FencedWriter({ redis, keyPrefix: prefix, leaseKey: lease.lease, bufferSize: 100, historyUpdates: 100 });
      const log = instanceKeys(req.label, bar, prefix);
      await writer.writePoint('token', log, { time: 60_000, value: 50, closed: true });
      await redis.set(servedKey, encodeServed({ state: 'live' }), 'PX', 60_000);
      const a = es.acquire(req, bar);
      await a.ready;
      expect(a.instance.state).toBe('live');
      a.release();
      // Let go of in the cluster; still followed here (the idle time is a minute).
      const id = { ...bar, key: instanceMember(req.label, bar) };
      await until(() => !es.demand.isLive(id), 3000, 'let go of');
      const b = es.acquire(req, bar);
      // The WebSocket route serves at once only what is not warming.
      expect(b.instance.state).toBe('warming');
      await redis.set(servedKey, encodeServed({ state: 'refused', code: 'series_busy', message: 'too many derived series in use' }), 'PX', 60_000);
      await expect(b.ready).rejects.toBeInstanceOf(SeriesBusyError);
      b.release();
      // Held again and answered live: served as before.
      await redis.set(servedKey, encodeServed({ state: 'live' }), 'PX', 60_000);
      const c = es.acquire(req, bar);
      await c.ready;
      expect(c.instance.state).toBe('live');
      published.length = 0;
      await writer.writePoint('token', log, { time: 120_000, value: 55, closed: false });
      await until(() => published.some((m) => m.startsWith(`${c.instance.topic} `)), 3000, 'the next point out to its clients');
      c.release();
    } finally {
      es.stop();
    }
  });

  it('an instance its clients hold, dropped by the leader and refused when asked again, is told failed to them (reproduced: frozen on live)', async () => {
    const { hub, published } = recordingHub();
    const es = edgeSeries(100, hub);
    try {
      const bar = seriesId('BTCUSDT', '1m');
      const parsed = registry.parse('rsi:period=51', '1m');
      if (!parsed.ok) throw new Error(parsed.error);
      const req = parsed.value[0]!;
      const member = instanceMember(req.label, bar);
      const lease = leaseKeys(prefix);
      await redis.set(lease.lease, 'token');
      const writer = new FencedWriter({ redis, keyPrefix: prefix, leaseKey: lease.lease, bufferSize: 100, historyUpdates: 100 });
      await writer.writePoint('token', instanceKeys(req.label, bar, prefix), { time: 60_000, value: 50, closed: true });
      await redis.set(keys.served + member, encodeServed({ state: 'live' }), 'PX', 60_000);
      const a = es.acquire(req, bar);
      await a.ready;
      // The leader found this edge's touches stale: it let go and deleted its answer; held again, it refuses.
      await redis.pipeline().zrem(keys.wanted, member).del(keys.served + member).exec();
      await new Promise((r) => setTimeout(r, 300));
      await redis.set(keys.served + member, encodeServed({ state: 'refused', code: 'series_busy', message: 'too many derived series in use' }), 'PX', 60_000);
      await until(() => published.some((m) => m.startsWith(a.instance.topic) && m.includes('failed')), 3000, 'its clients told it failed');
      expect(a.instance.state).toBe('failed');
      a.release();
      expect(es.size).toBe(0);
    } finally {
      es.stop();
    }
  });
});
