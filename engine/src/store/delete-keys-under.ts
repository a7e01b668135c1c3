import { Redis } from 'ioredis';
import { quitRedis } from './quit-redis.ts';

/** Keys asked for per SCAN step (and deleted per UNLINK). */
const SCAN_COUNT = 1000;

/**
 * Deletes every key under `prefix` in REDIS_URL's database (SCAN, then UNLINK: Redis frees them in the
 * background) and returns how many went. For a namespace the caller owns alone (a replay's, see
 * replay-key-prefix.ts); glob characters in the prefix are matched as themselves.
 * @param signal stops it between SCAN steps (a bounded shutdown): what went until then is gone
 * @param only the keys under `prefix` to delete (absent: all), in one pass over the database where a
 *   pass per sub-prefix took one each (a SCAN visits every key of the database, whatever it matches)
 * @throws TypeError for an empty prefix (that would be the whole database)
 * @throws the Redis error when Redis cannot be reached or refuses, within `timeoutMs` per command
 * @throws the signal's reason once it is aborted
 */
export async function deleteKeysUnder(url: string, prefix: string, timeoutMs: number, signal?: AbortSignal, only?: (key: string) => boolean): Promise<number> {
  if (!prefix) throw new TypeError('prefix: expected a non-empty key prefix (an empty one is the whole database)');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, commandTimeout: timeoutMs, enableOfflineQueue: false });
  redis.on('error', () => {}); // the command's rejection says it
  try {
    await redis.connect();
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let deleted = 0;
    let cursor = '0';
    do {
      signal?.throwIfAborted();
      const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      const keys = only ? found.filter(only) : found;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    await quitRedis(redis);
  }
}
