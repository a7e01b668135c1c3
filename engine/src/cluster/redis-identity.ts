import type { Redis } from 'ioredis';

/**
 * The run_id of the Redis instance behind `redis` (new at every Redis start). Positions are kept
 * with it: a Redis that restarted may have lost updates, so its series start a new epoch.
 */
export async function redisRunId(redis: Redis): Promise<string> {
  const info = await redis.info('server');
  const m = /^run_id:([0-9a-f]+)\s*$/m.exec(info);
  if (!m) throw new Error('redis INFO server has no run_id');
  return m[1]!;
}
