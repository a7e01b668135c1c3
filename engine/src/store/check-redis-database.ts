import { Redis } from 'ioredis';
import { ConfigError } from '../domain/errors.ts';
import { redisErrorText } from './redis-error-text.ts';

/**
 * Refuses a REDIS_URL whose database Redis will not select (`/99` on a server with 16): ioredis
 * reports that failure only as an event and then runs every command in database 0, so the engine
 * would write every series into the wrong database without a word. A Redis that does not answer
 * within `timeoutMs` is not an error here: the engine starts from memory and catches Redis up later.
 * @returns whether Redis answered.
 */
export async function checkRedisDatabase(url: string, timeoutMs: number): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, commandTimeout: timeoutMs, enableOfflineQueue: false });
  client.on('error', () => {}); // reported through the promises below
  const db = client.options.db ?? 0;
  try {
    await client.connect();
  } catch {
    client.disconnect();
    return false;
  }
  try {
    await client.select(db);
    return true;
  } catch (e) {
    const text = redisErrorText(e);
    if (/DB index|invalid DB|SELECT is not allowed/i.test(text)) {
      throw new ConfigError(`REDIS_URL names database ${db}, which Redis refuses to select (${text}); the server's 'databases' setting limits the index (16 by default: 0-15)`, {
        info: { variable: 'REDIS_URL', value: `…/${db}`, accepted: 'a database index the server accepts' },
      });
    }
    return false;
  } finally {
    client.disconnect();
  }
}
