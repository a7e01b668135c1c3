import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    const watch = new RedisWatch(redis, (l, m) => logs.push(`${l} ${m}`), 300);
    try {
      await watch.ready();
      await sleep(400);
      expect(watch.error).toBeUndefined();
      proxy.hole({ keep: true });
      await sleep(1000);
      expect(watch.error).toMatch(/no answer to PING within 300 ms/);
      proxy.open();
      for (const deadline = Date.now() + 2000; watch.error !== undefined; await sleep(20)) if (Date.now() > deadline) throw new Error('still hung');
      expect(logs.filter((l) => l.startsWith('warn'))).toHaveLength(1);
      expect(logs.at(-1)).toMatch(/^info .* answers again$/);
    } finally {
      watch.stop();
    }
  });
});
