import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { POINT_BATCH_LUA, POINT_WRITE_LUA, WINDOW_SEED_LUA, WRITE_BATCH_LUA } from './cluster-scripts.ts';

/** An unanswered command as ioredis keeps it for a resend. */
interface ResendItem {
  command: { name: string; args: unknown[]; reject(e: Error): void };
}

/**
 * The scripts whose calls carry the run id, as ioredis's first argument names them: the Lua's SHA1
 * (EVALSHA), or the Lua itself (EVAL: the first call of a script on each new connection).
 */
const WRITE_LUAS = [WRITE_BATCH_LUA, WINDOW_SEED_LUA, POINT_WRITE_LUA, POINT_BATCH_LUA];
const WRITE_SCRIPTS = new Set([...WRITE_LUAS, ...WRITE_LUAS.map((lua) => createHash('sha1').update(lua).digest('hex'))]);

/**
 * A write call in flight when the connection dropped fails rather than being re-sent by ioredis on
 * the next connection: it carries the run id of the Redis it was made for, and a Redis restarted
 * from an older snapshot holds that run id in its logs, so it went on under the old epoch, reusing
 * offsets clients had seen with other bars. Failed, it is kept and sent again (LeaderSink,
 * LeaderSeries) with the new run id. ioredis keeps a dropped connection's unanswered commands in
 * `prevCommandQueue` until it is ready again (`close` comes first); its other commands stay.
 */
export function failUnansweredWrites(redis: Redis): void {
  const q = (redis as unknown as { prevCommandQueue?: { toArray(): ResendItem[]; clear(): void; push(i: ResendItem): void } | null }).prevCommandQueue;
  if (!q || typeof q.toArray !== 'function') return;
  const items = q.toArray();
  const mine = items.filter((i) => (i.command.name === 'evalsha' || i.command.name === 'eval') && WRITE_SCRIPTS.has(String(i.command.args[0])));
  if (!mine.length) return;
  q.clear();
  for (const i of items) if (!mine.includes(i)) q.push(i);
  for (const i of mine) i.command.reject(new Error('the connection to Redis dropped before this write was answered'));
}
