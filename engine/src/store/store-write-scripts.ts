import type { Redis } from 'ioredis';
import { candlesKey, type SeriesId } from '../domain/series-id.ts';
import { STORE_FREE_LUA } from './freed-bound.ts';

/**
 * One bar upsert, atomic and O(log n): drop the member at this open time, add the new one, trim to
 * the cap. A script (EVALSHA) keeps it one round trip inside the pipeline, with no read-modify-write.
 */
const UPSERT_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
return 1`;

/**
 * Put before a write script of a fenced store: its last key must hold its last argument, or nothing is
 * written (an error naming FENCED); a key Redis lost is taken again for `leaseMs`.
 */
const fenceLua = (leaseMs: number) => `
local held = redis.call('GET', KEYS[#KEYS])
if not held then redis.call('SET', KEYS[#KEYS], ARGV[#ARGV], 'PX', ${leaseMs})
elseif held ~= ARGV[#ARGV] then return redis.error_reply('FENCED its namespace is held by another now') end
`;

/** The write scripts' arguments: keys, then arguments (with the fence's key and token when fenced: see argsOf). */
export type RedisWithUpsert = Redis & {
  /** UPSERT_LUA: candles; open time, member, cap. */
  upsertBar(...args: Array<string | number>): Promise<number>;
  /** STORE_FREE_LUA: freed set, candles; ttlMs (0: live again), member, max, keyPrefix. */
  storeFree(...args: Array<string | number>): Promise<number>;
};

/** A pipeline of the store's writes. */
export interface StorePipeline {
  upsertBar(...a: unknown[]): void;
  storeFree(...a: Array<string | number>): void;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

/** The arguments of the store's write scripts, fenced or not. */
export interface StoreWriteScripts {
  /** A write script's keys and arguments, the fence's key last among the keys and its token last. */
  argsOf(keys: string[], args: Array<string | number>): Array<string | number>;
  /** The arguments of storeFree for a series freed (ttlMs > 0) or live again (0). */
  freeArgs(id: SeriesId, ttlMs: number): Array<string | number>;
}

/**
 * Defines the store's write scripts on `redis` (`upsertBar`, `storeFree`), each behind the fence
 * when there is one (see RedisBarStoreOptions.fence), and returns how their arguments are made.
 */
export function defineStoreWriteScripts(
  redis: RedisWithUpsert,
  cfg: { fence?: { key: string; token: string; leaseMs: number }; keyPrefix: string; maxFreedKept: number },
): StoreWriteScripts {
  const { fence, keyPrefix, maxFreedKept } = cfg;
  const fenced = fence ? fenceLua(fence.leaseMs) : '';
  redis.defineCommand('upsertBar', { numberOfKeys: fence ? 2 : 1, lua: fenced + UPSERT_LUA });
  redis.defineCommand('storeFree', { numberOfKeys: fence ? 3 : 2, lua: fenced + STORE_FREE_LUA });
  const argsOf = (keys: string[], args: Array<string | number>) => (fence ? [...keys, fence.key, ...args, fence.token] : [...keys, ...args]);
  /** Every freed series still kept, counted in Redis (see freed-bound.ts): the bound holds across restarts. */
  const freedSet = `${keyPrefix}store:freed`;
  const freeArgs = (id: SeriesId, ttlMs: number) => argsOf([freedSet, candlesKey(id, keyPrefix)], [ttlMs, id.key, maxFreedKept, keyPrefix]);
  return { argsOf, freeArgs };
}
