import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instanceDemandKeys, instanceKeys, leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { FencedWriter, INSTANCE_LOG_TTL_MS, RELEASED_INSTANCE_TTL_MS } from '../../../engine/src/cluster/fenced-writer.ts';
import { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { LeaderSeries } from '../../../engine/src/cluster/leader-series.ts';
import { FREE_RETRY_MS } from '../../../engine/src/cluster/series-keep.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import type { SeriesInstance, SeriesRegistry, SeriesRequest } from '../../../engine/src/series/series-registry.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * An instance the leader lets go of has its log set to expire in RELEASED_INSTANCE_TTL_MS (10 min),
 * and when Redis does not take that, it is tried again (every FREE_RETRY_MS) until it does: else a
 * release while Redis was away left the log for the day its last write gave it. A node that no longer
 * leads lets its pending frees go (the log is the new leader's).
 *
 * A redis-server of the test's own (its ACL is changed), a real LeaderLease (on a connection of its
 * own, as ingest-node has it), FencedWriter, LeaderSeries and the LeaderDemand it starts; the
 * registry and the bar lifecycle are stubs (an instance whose window holds three points). Redis
 * refuses the expiry the way a memory limit or an outage refuses a write, at a point the test sets:
 * the leader's user may not PEXPIRE (the free script fails), while the lease and the demand's reads
 * keep working; then it may again.
 */
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

const PREFIX = 't:';
const bar = seriesId('BTCUSDT', '1m');
const points: SeriesPoint[] = [1, 2, 3].map((m) => ({ time: m * 60_000, value: m, closed: true }));

/** The registry's side of an instance: parses any valid label; the instance is live at once with its window. */
function stubRegistry(): SeriesRegistry {
  const registry = {
    parse: (label: string) => ({ ok: true, value: [{ label, def: {}, params: {} } as unknown as SeriesRequest] }),
    acquire: (req: SeriesRequest) => {
      const instance = { label: req.label, topic: `series/${req.label}`, state: 'live', window: { last: (n: number) => points.slice(-n) } } as unknown as SeriesInstance;
      return { instance, ready: Promise.resolve(instance), release: () => {} };
    },
  };
  return registry as unknown as SeriesRegistry;
}

const bars: SeriesDemand = {
  isLive: () => true,
  touch: () => {},
  want: () => Promise.resolve<DemandOutcome>({ ok: true }),
  release: () => {},
};

const redisUp = await hasRedisServer("the leader's retried expiry of a released instance's log (own redis-server)");

describe.runIf(redisUp)("the leader's retried expiry of a released instance's log (own redis-server)", () => {
  let server: RedisProcess;
  let admin: Redis;
  const lk = leaseKeys(PREFIX);
  const dk = instanceDemandKeys(PREFIX);
  /** What each test started, stopped after it whatever happened. */
  let running: { series: LeaderSeries; lease: LeaderLease; conns: Redis[] } | undefined;

  beforeAll(async () => {
    server = await RedisProcess.start();
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterEach(async () => {
    const r = running;
    running = undefined;
    if (r) {
      r.series.stop();
      await r.lease.stop();
      for (const c of r.conns) c.disconnect();
    }
    await admin.acl('SETUSER', 'leader', 'reset');
    await admin.flushall();
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  /** A leading node holding `label|BTCUSDT:1m` for an edge, its log written (a day's expiry). */
  async function leaderHolding(label: string) {
    await admin.acl('SETUSER', 'leader', 'reset', 'on', '>not-a-secret', '~*', '&*', '+@all');
    // As ingest-node connects: no offline queue, one retry.
    const redis = new Redis(`redis://leader:not-a-secret@127.0.0.1:${server.port}`, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    const leaseRedis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const subscriber = new Redis(server.url, { autoResubscribe: false });
    const conns = [redis, leaseRedis, subscriber];
    for (const c of conns) c.on('error', () => {});
    const lease = new LeaderLease({ redis: leaseRedis, keys: lk, nodeId: 'spec-leader', ttlMs: 3000 });
    const writer = new FencedWriter({ redis, keyPrefix: PREFIX, leaseKey: lk.lease, bufferSize: 100, historyUpdates: 100 });
    const series = new LeaderSeries({ redis, subscriber, keys: dk, keyPrefix: PREFIX, lease, writer, bufferSize: 100, staleMs: 60_000, maxInstances: 10 });
    running = { series, lease, conns };
    await until('the connection ready', () => redis.status === 'ready');
    lease.start();
    await until('the lease won', () => lease.state.leader);
    series.start(stubRegistry(), bars);
    const member = `${label}|${bar.key}`;
    const keys = instanceKeys(label, bar, PREFIX);
    await admin.zadd(dk.wanted, Date.now(), member);
    await admin.publish(dk.demand, member);
    await until('the instance answered live', async () => (await admin.get(dk.served + member)) === 'live');
    expect(series.size).toBe(1);
    expect(await admin.zcard(keys.candles)).toBe(points.length + 1); // its points and its status
    return { series, lease, member, keys };
  }

  /** PTTL of the log's keys that exist (all of them must). */
  async function logTtls(keys: { candles: string; pos: string; hist: string }): Promise<number[]> {
    const ks = [keys.candles, keys.pos];
    if (await admin.exists(keys.hist)) ks.push(keys.hist);
    return Promise.all(ks.map((k) => admin.pttl(k)));
  }

  /** Times Redis refused the leader a PEXPIRE (its ACL log groups repeats of one refusal). */
  async function refusedExpiries(): Promise<number> {
    const entries = (await admin.acl('LOG')) as unknown[][];
    let n = 0;
    for (const e of entries) {
      const f = new Map<string, unknown>();
      for (let i = 0; i + 1 < e.length; i += 2) f.set(String(e[i]), e[i + 1]);
      if (f.get('username') === 'leader' && f.get('object') === 'pexpire') n += Number(f.get('count'));
    }
    return n;
  }

  /** The edges let go of it: out of the wanted set, the leader's next scan releases it. */
  async function letGo(series: LeaderSeries, member: string): Promise<void> {
    await admin.zrem(dk.wanted, member);
    await admin.publish(dk.demand, member);
    await until('the instance released', () => series.size === 0);
  }

  it('sets the log to expire once Redis takes it again, after refusing it for more than a retry round', async () => {
    const { series, member, keys } = await leaderHolding('rsi:period=21');
    for (const t of await logTtls(keys)) expect(t).toBeGreaterThan(INSTANCE_LOG_TTL_MS - 60_000);

    await admin.acl('LOG', 'RESET');
    await admin.acl('SETUSER', 'leader', '-pexpire');
    await letGo(series, member);
    await until('the free refused', async () => (await refusedExpiries()) >= 1);

    // Past a retry round: tried again (Redis refused it twice), still pending; the log keeps its day.
    // Waited for (a fixed FREE_RETRY_MS + 1.5 s left a late retry timer 1.5 s on a loaded machine).
    await until('the free refused again', async () => (await refusedExpiries()) >= 2, FREE_RETRY_MS + 10_000);
    for (const t of await logTtls(keys)) expect(t).toBeGreaterThan(INSTANCE_LOG_TTL_MS - 60_000);
    expect(series.pendingLogFrees).toBe(1);

    // Redis takes it again: the next round sets the expiry, and nothing is pending any more.
    await admin.acl('SETUSER', 'leader', '+pexpire');
    await until('the free taken', async () => (await logTtls(keys)).every((t) => t > 0 && t <= RELEASED_INSTANCE_TTL_MS), FREE_RETRY_MS + 5000);
    for (const t of await logTtls(keys)) expect(t).toBeGreaterThan(RELEASED_INSTANCE_TTL_MS - 30_000);
    expect(series.pendingLogFrees).toBe(0);
    expect(await admin.zscore(lk.freedInstances, member)).not.toBeNull();
  }, 60_000);

  it('lets a pending free go once another node leads: it does not expire the new leader\'s log', async () => {
    const { series, lease, member, keys } = await leaderHolding('rsi:period=22');
    await admin.acl('LOG', 'RESET');
    await admin.acl('SETUSER', 'leader', '-pexpire');
    await letGo(series, member);
    await until('the free refused', async () => (await refusedExpiries()) >= 1);
    expect(series.pendingLogFrees).toBe(1);

    // Another node takes the lease (this one's renewal then finds another token and steps down).
    await admin.set(lk.lease, 'other-node:token', 'PX', 60_000);
    await until('this node stepped down', () => !lease.state.leader);
    await admin.acl('SETUSER', 'leader', '+pexpire');
    await until('the pending free dropped', () => series.pendingLogFrees === 0, FREE_RETRY_MS + 5000);
    // A round later still nothing set: the log keeps the expiry its writes gave it.
    await sleep(FREE_RETRY_MS + 1000);
    for (const t of await logTtls(keys)) expect(t).toBeGreaterThan(INSTANCE_LOG_TTL_MS - 60_000);
    expect(await admin.zscore(lk.freedInstances, member)).toBeNull();
  }, 40_000);
});
