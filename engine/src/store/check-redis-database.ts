import { Redis } from 'ioredis';
import { ConfigError } from '../domain/errors.ts';
import { redisErrorText } from './redis-error-text.ts';

/** The oldest Redis the cluster roles work with: their scripts carry Redis 7's flags (`allow-oom`). */
export const CLUSTER_REDIS_MAJOR = 7;

/** What Redis answers a connection whose credentials it refuses (a wrong password, none where one is needed, a user without the rights). */
const AUTH_REFUSED = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|Client sent AUTH, but no password is set/i;

/**
 * Refuses a REDIS_URL whose database Redis will not select (`/99` on a server with 16): ioredis
 * reports that failure only as an event and then runs every command in database 0, so the engine
 * would write every series into the wrong database without a word. Refuses one whose credentials
 * Redis refuses too: the engine ran on for good as if Redis were only away, the cause in no log line.
 * A Redis that does not answer within `timeoutMs` is not an error here: the engine starts from
 * memory (an edge waits for it) and catches Redis up later. With `minMajor` (the cluster roles: their
 * lease scripts carry Redis 7's flags), refuses an older Redis too.
 * @returns whether Redis answered.
 */
export async function checkRedisDatabase(url: string, timeoutMs: number, minMajor?: number): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, commandTimeout: timeoutMs, enableOfflineQueue: false });
  // The promises below say only "Connection is closed": the cause comes as an event.
  let cause = '';
  client.on('error', (e: unknown) => (cause = redisErrorText(e)));
  const db = client.options.db ?? 0;
  try {
    await client.connect();
  } catch {
    client.disconnect();
    if (AUTH_REFUSED.test(cause)) {
      throw new ConfigError(`REDIS_URL's credentials are refused by Redis (${cause.slice(0, 200)}): give the password (redis://:password@host:port/db) or user and password the server expects`, {
        info: { variable: 'REDIS_URL', value: '(credentials hidden)', accepted: 'credentials the server accepts' },
      });
    }
    return false;
  }
  try {
    await client.select(db);
  } catch (e) {
    client.disconnect();
    const text = redisErrorText(e);
    if (/DB index|invalid DB|SELECT is not allowed/i.test(text)) {
      throw new ConfigError(`REDIS_URL names database ${db}, which Redis refuses to select (${text}); the server's 'databases' setting limits the index (16 by default: 0-15)`, {
        info: { variable: 'REDIS_URL', value: `…/${db}`, accepted: 'a database index the server accepts' },
      });
    }
    return false;
  }
  try {
    if (minMajor !== undefined) await requireVersion(client, minMajor);
    return true;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    return false;
  } finally {
    client.disconnect();
  }
}

async function requireVersion(client: Redis, minMajor: number): Promise<void> {
  const problem = versionProblem(await client.info('server'), minMajor);
  if (problem) throw new ConfigError(`REDIS_URL points at ${problem.found}; the cluster roles need Redis ${minMajor}.0 or newer (their scripts use Redis ${minMajor}'s flags)`, { info: { variable: 'REDIS_URL', value: `(${problem.found})`, accepted: `Redis ${minMajor}.0 or newer` } });
}

/** From `INFO server`'s text: what Redis says it is, when its major version is below `minMajor` (an unreadable version is let through). */
export function versionProblem(info: string, minMajor: number): { found: string } | undefined {
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  const major = Number.parseInt(version ?? '', 10);
  return Number.isFinite(major) && major < minMajor ? { found: `Redis ${version}` } : undefined;
}
