import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderPresence } from '../../../engine/src/cluster/leader-presence.ts';
import { RedisWatch } from '../../../engine/src/cluster/redis-watch.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * A Redis that hangs (no error, no reset) counts as unreachable in a cluster node's /health once a PING
 * goes unanswered for REDIS_COMMAND_TIMEOUT_MS, and as reachable again when one is answered. Before, a
 * leader said `ok` and both edges `reachable` through a 14 s `DEBUG SLEEP` (an attacker-style probe).
 * The real Redis, through a proxy that holds everything for a while.
 */
const redisUp = await hasRedis('a cluster node sees a Redis that hangs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Far above a PING's round trip on a loaded machine: a stall of this process or of Redis shorter than
// this is no hang (at 300 ms, one on a loaded 2-core machine was said to be, before the cut).
const HANG = 1000;

describe.runIf(redisUp)('a cluster node sees a Redis that hangs', () => {
  let proxy: HoleProxy;
  let redis: Redis;
  beforeAll(async () => {
    const url = new URL(REDIS_URL);
    proxy = await HoleProxy.start(Number(url.port || 6379), url.hostname);
    redis = new Redis({ host: '127.0.0.1', port: proxy.port, db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    await proxy?.close();
  });

  it('says it does not answer while it hangs, once, and that it answers again after', async () => {
    const logs: string[] = [];
    const watch = new RedisWatch(redis, (l, m) => logs.push(`${l} ${m}`), HANG);
    try {
      await watch.ready();
      await sleep(HANG + 200);
      // Ours answered, the watch's PINGs sent before it are too: a stall here leaves none unanswered.
      await redis.ping();
      expect(watch.error).toBeUndefined();
      proxy.hole({ keep: true });
      const atHole = logs.length;
      await expect.poll(() => watch.error).toMatch(new RegExp(`no answer to PING within ${HANG} ms`));
      // Hung a while more (two probe periods): said once however long it lasts.
      await sleep(HANG);
      proxy.open();
      await expect.poll(() => watch.error).toBeUndefined();
      expect(logs.slice(atHole).filter((l) => l.startsWith('warn'))).toHaveLength(1);
      expect(logs.at(-1)).toMatch(/^info .* answers again$/);
    } finally {
      watch.stop();
      proxy.open(); // a failure above leaves it cut: the next test needs it open
    }
  });

  it("an edge's look at the lease waits for its answer: none queued behind an unanswered one (was one a second for as long as it hung)", async () => {
    const key = `spec-presence-${process.pid}:lease`;
    await redis.set(key, 'token', 'PX', 60_000);
    let asked = 0;
    const mget = redis.mget.bind(redis) as (...keys: string[]) => Promise<Array<string | null>>;
    (redis as unknown as { mget: typeof mget }).mget = (...keys: string[]) => (asked++, mget(...keys));
    const presence = new LeaderPresence({ redis, leaseKey: key, upstreamKey: `${key}:up`, graceMs: 10_000, everyMs: 50 });
    try {
      await sleep(300);
      proxy.hole({ keep: true });
      await sleep(200);
      const before = asked;
      await sleep(1000);
      // Twenty ticks while it hangs: at most the one asked as it began.
      expect(asked - before).toBeLessThanOrEqual(1);
      proxy.open();
      // It looks again: every 50 ms, however late a loaded machine runs them.
      await expect.poll(() => asked - before).toBeGreaterThan(3);
      expect(presence.present).toBe(true);
    } finally {
      presence.stop();
      proxy.open();
      await redis.del(key);
    }
  });
});
