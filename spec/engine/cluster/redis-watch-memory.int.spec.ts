import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisWatch } from '../../../engine/src/cluster/redis-watch.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * A Redis full under `noeviction` refused what clients start (a cold symbol waited a minute, then was
 * refused as "not started in time") while every node said `ok` and logged nothing (an operator's
 * review). A redis-server of the test's own: its maxmemory is changed.
 */
const redisUp = await hasRedisServer('a cluster node says when its Redis is nearly full (own redis-server)');

describe.runIf(redisUp)('a cluster node says when its Redis is nearly full (own redis-server)', () => {
  let server: RedisProcess;
  let redis: Redis;
  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('past 90 % of its maxmemory: said once in the log and in warnings, and again when it is not', async () => {
    const logs: string[] = [];
    const watch = new RedisWatch(redis, (l, m) => logs.push(`${l} ${m}`), undefined, 7, 100);
    try {
      await watch.ready();
      const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
      await new Promise((r) => setTimeout(r, 300));
      expect(watch.warnings).toEqual([]);
      // Far above use: nothing said.
      await redis.config('SET', 'maxmemory', String(used * 4));
      await new Promise((r) => setTimeout(r, 300));
      expect(watch.warnings).toEqual([]);
      await redis.config('SET', 'maxmemory', String(used + 50_000));
      await expect.poll(() => watch.memoryWarning, { timeout: 3000 }).toMatch(/^redis at 127\.0\.0\.1:\d+\/0 holds [\d.]+ of its maxmemory [\d.]+ MB: when full it refuses what clients start/);
      expect(watch.warnings).toEqual([watch.memoryWarning]);
      await new Promise((r) => setTimeout(r, 300));
      expect(logs.filter((l) => l.startsWith('warn') && l.includes('of its maxmemory'))).toHaveLength(1);
      await redis.config('SET', 'maxmemory', '0');
      await expect.poll(() => watch.memoryWarning, { timeout: 3000 }).toBeUndefined();
      expect(logs.at(-1)).toMatch(/^info redis at .* is below 90 % of its maxmemory again$/);
    } finally {
      watch.stop();
      await redis.config('SET', 'maxmemory', '0');
    }
  });
});
