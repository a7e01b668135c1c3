import { Redis } from 'ioredis';
import type { SeriesId } from '../domain/series-id.ts';
import type { BarStore, StoreHealth, StoreMetrics } from './bar-store.ts';
import type { SeriesWindow } from './series-window.ts';
import { HotWindows } from './hot-windows.ts';
import { RedisBarReads } from './redis-bar-reads.ts';
import { RedisLink } from './redis-link.ts';
import { SeriesExpiries } from './series-expiries.ts';
import { defineStoreWriteScripts, type RedisWithUpsert } from './store-write-scripts.ts';
import { WriteBehind } from './write-behind.ts';

export { RELEASED_SERIES_TTL_MS } from './series-expiries.ts';
export { MAX_FLUSH_BARS } from './write-behind.ts';

/**
 * Freed series Redis keeps at most (see freed-bound.ts, counted in Redis): beyond, the oldest one's
 * keys go at once. About 150 MB in a cluster (~300 KB a series), 80 MB in `ROLE=all`'s store (its bars
 * alone).
 */
export const MAX_FREED_KEPT = 500;

export interface RedisBarStoreOptions {
  url: string;
  bufferSize: number;
  keyPrefix?: string;
  metrics?: StoreMetrics;
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** How long `restore` waits for a first connection before serving from memory alone. */
  connectTimeoutMs?: number;
  /**
   * A command unanswered this long fails (ioredis `commandTimeout`) and marks Redis as hung: reads
   * are served from memory and writes wait for a PING to be answered again. Default 2000.
   */
  commandTimeoutMs?: number;
  /** Freed series kept in Redis at most; default MAX_FREED_KEPT. */
  maxFreedKept?: number;
  /**
   * Writes only while `key` holds `token` (a replay's slot, replay-slot.ts): a replay that lost its
   * slot to another (it could not renew it for its lease: paused, or cut off from Redis) writes
   * nothing more into what is that one's namespace now, and serves from memory. A key Redis lost
   * (restarted without its data) is taken again for `leaseMs`, as the slot's renewal does.
   */
  fence?: { key: string; token: string; leaseMs: number };
}

/**
 * Redis store (sorted set per series, `candles:{SYMBOL}:{interval}`, scored by open time) behind the
 * hot windows. Writes are coalesced per series and open time and flushed once per tick as one
 * pipeline. While Redis is unreachable or hung (a command unanswered for `commandTimeoutMs`) the
 * engine keeps serving from memory; the pending writes (bounded: at most `bufferSize` per series) are
 * flushed when it answers again. Nothing is written until the URL's database is selected: a database
 * Redis refuses stops the store (ioredis would otherwise run every command in database 0).
 */
export function createRedisBarStore(opts: RedisBarStoreOptions): BarStore {
  const { bufferSize, keyPrefix = '', metrics, log = () => {}, connectTimeoutMs = 3000, commandTimeoutMs = 2000 } = opts;
  const redis = new Redis(opts.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    lazyConnect: false,
    commandTimeout: commandTimeoutMs,
  }) as RedisWithUpsert;
  const db = redis.options.db ?? 0;
  const scripts = defineStoreWriteScripts(redis, { fence: opts.fence, keyPrefix, maxFreedKept: opts.maxFreedKept ?? MAX_FREED_KEPT });
  const windows = new HotWindows(bufferSize);
  // The hooks run from Redis events and timers only, once everything below is built.
  const link: RedisLink = new RedisLink(
    redis,
    { db, log, connectTimeoutMs, commandTimeoutMs },
    {
      pendingWrites: () => writes.pendingWrites(),
      flushing: () => writes.flushing !== undefined,
      rewriteWindows: () => writes.rewriteWindows(),
      wake: () => writes.schedule(),
      dropPending: () => {
        writes.clear();
        expiries.clear();
      },
    },
  );
  const expiries = new SeriesExpiries(redis, scripts, link, windows);
  const writes: WriteBehind = new WriteBehind(redis, scripts, link, windows, expiries, { bufferSize, keyPrefix, connectTimeoutMs, metrics });
  const window = (id: SeriesId): SeriesWindow => {
    let w = windows.get(id.key);
    if (!w) expiries.live(id, (w = windows.open(id)));
    return w;
  };
  const reads = new RedisBarReads(redis, link, window, { bufferSize, keyPrefix, metrics, log });

  // Never the URL, host or port: lastError is reduced by redisErrorText.
  const health = (): StoreHealth => ({ kind: 'redis', reachable: link.ok(), ...(link.hung ? { hung: true } : {}), pendingWrites: writes.pendingWrites(), lastError: link.lastError });

  return {
    kind: 'redis',
    window,
    release(id) {
      // Pending writes keep their own copy of the bars (and the id), so they still reach Redis, with
      // the expiry again after them (a key they create has none yet). Not while Redis is away: each
      // released series kept its bars until it answered (a review: 1,000 bars per series freed,
      // clients loading cold series through an outage grow it by GBs an hour); the exchange has them.
      if (!link.ok() && (link.everReady || Date.now() > link.connectDeadline)) writes.drop(id.key);
      windows.delete(id);
      expiries.free(id);
    },
    stats: () => windows.stats(),
    upsert(id, bars) {
      const w = window(id);
      if (bars.length > 1) w.reserve(w.size + bars.length);
      let changed = false;
      for (const b of bars) {
        if (w.upsert(b) === 'ignored') continue;
        // Never written again: not kept either.
        if (link.refused) continue;
        writes.markDirty(id, b);
        changed = true;
      }
      if (changed) writes.schedule();
    },
    restore: (id) => reads.restore(id),
    range: (id, endTime, limit) => reads.range(id, endTime, limit),
    flush: () => writes.flush(),
    health,
    async close() {
      await writes.flush();
      // Said, not dropped in silence: the README promises a stop flushes (a review found 14 lost, unsaid).
      const lost = writes.pendingWrites();
      if (lost > 0) log('warn', `stopping with ${lost} bar writes redis did not take (${link.lastError ?? 'not answering'}): they are lost`);
      await link.close();
    },
  };
}
