import { quitRedis } from './quit-redis.ts';
import { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import { candlesKey, type SeriesId } from '../domain/series-id.ts';
import type { BarStore, StoreHealth, StoreMetrics } from './bar-store.ts';
import { decodeBar, encodeBar } from './bar-member.ts';
import { SeriesWindow } from './series-window.ts';
import { windowStats } from './window-stats.ts';
import { redisErrorText } from './redis-error-text.ts';
import { STORE_FREE_LUA } from './freed-bound.ts';

/**
 * How long Redis keeps a series the engine freed (ms; an on-demand series nobody watches any more, or
 * one whose symbol stopped trading), in the store and in a cluster's log. Wanted again within it, the
 * series is restored from Redis (a cluster's continues its epoch and offsets); after it, Redis has let
 * go of it. Without it every series ever asked for (about 270 KB each in a cluster) stayed for good.
 */
export const RELEASED_SERIES_TTL_MS = 3_600_000;

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

/** Bar writes sent in one pipeline at most (a series' pending bars are never split). */
export const MAX_FLUSH_BARS = 20_000;

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
type RedisWithUpsert = Redis & {
  /** UPSERT_LUA: candles; open time, member, cap. */
  upsertBar(...args: Array<string | number>): Promise<number>;
  /** STORE_FREE_LUA: freed set, candles; ttlMs (0: live again), member, max, keyPrefix. */
  storeFree(...args: Array<string | number>): Promise<number>;
};

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
  const { fence } = opts;
  const fenced = fence ? fenceLua(fence.leaseMs) : '';
  redis.defineCommand('upsertBar', { numberOfKeys: fence ? 2 : 1, lua: fenced + UPSERT_LUA });
  redis.defineCommand('storeFree', { numberOfKeys: fence ? 3 : 2, lua: fenced + STORE_FREE_LUA });
  /** A write script's keys and arguments, the fence's key last among the keys and its token last. */
  const argsOf = (keys: string[], args: Array<string | number>) => (fence ? [...keys, fence.key, ...args, fence.token] : [...keys, ...args]);
  /** Every freed series still kept, counted in Redis (see freed-bound.ts): the bound holds across restarts. */
  const freedSet = `${keyPrefix}store:freed`;
  const maxFreedKept = opts.maxFreedKept ?? MAX_FREED_KEPT;
  /** The arguments of storeFree for a series freed (ttlMs > 0) or live again (0). */
  const freeArgs = (id: SeriesId, ttlMs: number) => argsOf([freedSet, candlesKey(id, keyPrefix)], [ttlMs, id.key, maxFreedKept, keyPrefix]);

  const windows = new Map<string, SeriesWindow>();
  const dirty = new Map<string, { id: SeriesId; bars: Map<number, Bar> }>();
  /** Connected, and the URL's database selected. */
  let reachable = false;
  /** A command timed out and nothing has answered since (a stopped or overloaded server). */
  let hung = false;
  /** The URL's database cannot be selected: nothing is read or written again. */
  let refused: string | undefined;
  let everReady = false;
  let lastError: string | undefined;
  const usableWaiters = new Set<() => void>();
  let scheduled = false;
  let flushing: Promise<void> | undefined;
  let closed = false;
  /**
   * Restores wait for the first connection until this moment only: a Redis down at start then costs
   * one connect timeout in all, not one per series (4 at a time, 3 s each: hours for the universe).
   */
  const connectDeadline = Date.now() + connectTimeoutMs;
  /** "Starts from the exchange alone" is logged once per outage, not once per series. */
  let aloneLogged = false;

  // ioredis selects the URL's database on connect but only reports a refusal as an event, then runs
  // commands in database 0: select it again here and write nothing until that succeeds.
  redis.on('ready', () => {
    redis.select(db).then(
      () => {
        if (closed || refused) return;
        answered();
        usable();
      },
      (e: unknown) => {
        const text = redisErrorText(e);
        if (!/DB index|invalid DB|SELECT is not allowed/i.test(text)) return down(e as Error);
        refused = `database ${db} cannot be selected (${text})`;
        lastError = refused;
        reachable = false;
        log('error', `redis ${refused}: nothing is written to Redis`);
        redis.disconnect();
      },
    );
  });
  const usable = () => {
    reachable = true;
    aloneLogged = false;
    for (const w of usableWaiters) w();
    usableWaiters.clear();
    if (everReady) {
      // Redis may have come back empty (restarted without persistence): rewrite every hot window,
      // not only what was pending. Upserts are idempotent, so a Redis that kept its data loses nothing.
      for (const [key, w] of windows) {
        const id = idOf.get(key);
        if (id) for (const b of w.last(bufferSize)) if (!dirty.get(key)?.bars.has(b.openTime)) markDirty(id, b);
      }
      log('info', `redis reachable again: catching up ${pendingWrites()} bar writes`);
    }
    everReady = true;
    schedule();
  };
  const down = (err?: Error) => {
    if (err) lastError = redisErrorText(err);
    if (reachable && !closed && !refused) log('warn', `redis unreachable (${lastError ?? 'connection closed'}): serving from memory, writes queued`);
    reachable = false;
  };
  /** Every failed command passes here: a timeout means Redis is hung (the connection looks open). */
  const failed = (e: unknown) => {
    lastError = redisErrorText(e);
    if (/timed out/i.test(lastError) && !hung) {
      hung = true;
      if (!closed) log('warn', `redis not answering (${lastError}): serving from memory, writes queued`);
      probe();
    }
  };
  /** A command was answered: Redis is not hung (any more). */
  const answered = () => {
    if (!hung) return;
    hung = false;
    aloneLogged = false;
    if (!closed) log('info', `redis answering again: catching up ${pendingWrites()} bar writes`);
    schedule();
  };
  const ok = () => reachable && !hung && !refused;
  /** Whether a write was refused by the fence (another holds the namespace now): then nothing is read or written again. */
  const fencedOut = (e: unknown): boolean => {
    if (!/^FENCED\b/.test(redisErrorText(e))) return false;
    if (refused) return true;
    refused = 'another holder took its namespace (the fence key holds another token)';
    lastError = refused;
    log('error', `redis: ${refused}: nothing more is written to it or read from it; serving from memory (${pendingWrites()} pending bar writes dropped)`);
    dirty.clear();
    unexpired.clear();
    unpersisted.clear();
    redis.disconnect();
    return true;
  };
  redis.on('error', down);
  redis.on('close', () => down());

  const idOf = new Map<string, SeriesId>();
  /** Live series whose key no write has made permanent yet (see `window`), bounded by the windows. */
  const unpersisted = new Set<string>();
  /**
   * Released series whose expiry Redis has not taken yet (released while it was unreachable, or the
   * PEXPIRE failed): set with the next flush, else their keys would stay for good. Bounded by the
   * series there are (one entry per key); a series live again leaves it.
   */
  const unexpired = new Map<string, SeriesId>();
  /** Sets a freed series' expiry (and counts it, in Redis) now if Redis answers, else with the next flush (`unexpired`). */
  const expire = (id: SeriesId) => {
    unexpired.set(id.key, id);
    if (ok())
      redis.storeFree(...freeArgs(id, RELEASED_SERIES_TTL_MS)).then(
        () => expired(id.key, id),
        (e: unknown) => void fencedOut(e),
      );
  };
  const expired = (key: string, id: SeriesId) => {
    if (unexpired.get(key) === id) unexpired.delete(key);
  };
  const window = (id: SeriesId) => {
    let w = windows.get(id.key);
    if (!w) {
      windows.set(id.key, (w = new SeriesWindow(bufferSize)));
      idOf.set(id.key, id);
      // Live again (or for the first time): kept for good, whatever an earlier release (of this
      // process or an earlier one) set; now, or else with its first write (Redis may not answer now).
      unpersisted.add(id.key);
      unexpired.delete(id.key);
      const made = w;
      if (ok())
        redis.storeFree(...freeArgs(id, 0)).then(
          () => windows.get(id.key) === made && unpersisted.delete(id.key),
          (e: unknown) => void fencedOut(e),
        );
    }
    return w;
  };

  const pendingWrites = () => {
    let n = 0;
    for (const d of dirty.values()) n += d.bars.size;
    return n;
  };

  const markDirty = (id: SeriesId, bar: Bar) => {
    let d = dirty.get(id.key);
    if (!d) dirty.set(id.key, (d = { id, bars: new Map() }));
    d.bars.set(bar.openTime, bar);
    if (d.bars.size > bufferSize) {
      // Bounded while Redis is down: the oldest pending bars would be trimmed by the cap anyway.
      let oldest = Infinity;
      for (const t of d.bars.keys()) if (t < oldest) oldest = t;
      d.bars.delete(oldest);
    }
  };

  function schedule(): void {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void flushOnce();
    });
  }

  /** While hung, one PING at a time asks whether Redis answers again (batches would pile up in the socket). */
  let probing = false;
  function probe(): void {
    if (probing || closed || !reachable) return;
    probing = true;
    redis.ping().then(
      () => {
        probing = false;
        answered();
      },
      (e: unknown) => {
        failed(e);
        // A refused connection fails at once: wait before asking again.
        setTimeout(() => {
          probing = false;
          if (hung) probe();
        }, commandTimeoutMs).unref();
      },
    );
  }
  // Finds a hang when nothing is being written, too.
  const heartbeat = setInterval(() => {
    if (ok() && !flushing) redis.ping().then(answered, failed);
  }, Math.max(1000, commandTimeoutMs));
  heartbeat.unref();

  async function flushOnce(): Promise<void> {
    if (hung) return probe();
    if (flushing || !ok() || (dirty.size === 0 && unexpired.size === 0 && unpersisted.size === 0)) return flushing;
    // One pipeline of at most ~MAX_FLUSH_BARS writes (whole series); the rest follow in the next
    // turns. Before: everything pending in one pipeline (a universe's bootstrap, 221k writes at 300
    // series), which an overloaded Redis timed out whole, and which was retried whole.
    const batch: Array<{ id: SeriesId; bars: Bar[] }> = [];
    let size = 0;
    for (const [key, d] of dirty) {
      if (size >= MAX_FLUSH_BARS) break;
      batch.push({ id: d.id, bars: [...d.bars.values()] });
      size += d.bars.size;
      dirty.delete(key);
    }
    flushing = (async () => {
      let count = 0;
      const persisting: string[] = [];
      const expiring: Array<[string, SeriesId]> = [];
      try {
        // Built inside the try: anything thrown here must requeue the batch, never reject unhandled.
        const pipeline = redis.pipeline() as unknown as {
          upsertBar(...a: unknown[]): void;
          storeFree(...a: Array<string | number>): void;
          exec(): Promise<Array<[Error | null, unknown]> | null>;
        };
        // Live series not kept for good yet first (a failed keep stays in the set): a free below
        // must not count one of them among the freed and drop its key.
        for (const key of unpersisted) {
          if (persisting.length >= MAX_FLUSH_BARS) break;
          const id = idOf.get(key);
          if (!id) {
            unpersisted.delete(key);
            continue;
          }
          pipeline.storeFree(...freeArgs(id, 0));
          persisting.push(key);
        }
        for (const { id, bars } of batch) {
          const key = candlesKey(id, keyPrefix);
          for (const b of bars) {
            pipeline.upsertBar(...argsOf([key], [b.openTime, encodeBar(b), bufferSize]));
            count++;
          }
          // Released while these were pending: its expiry (see release) after the writes that may
          // have created the key.
          if (!windows.has(id.key)) pipeline.storeFree(...freeArgs(id, RELEASED_SERIES_TTL_MS));
        }
        for (const [key, id] of unexpired) {
          if (expiring.length >= MAX_FLUSH_BARS) break;
          pipeline.storeFree(...freeArgs(id, RELEASED_SERIES_TTL_MS));
          expiring.push([key, id]);
        }
        const results = (await pipeline.exec()) ?? [];
        const failed = results.filter(([e]) => e).length;
        if (failed) {
          metrics?.writeErrors(failed);
          throw results.find(([e]) => e)![0]!;
        }
        metrics?.barsWritten(count);
        for (const key of persisting) unpersisted.delete(key);
        for (const [key, id] of expiring) expired(key, id);
        answered();
      } catch (e) {
        // Nothing of it is written, and nothing will be.
        if (fencedOut(e)) return;
        failed(e);
        // Put the batch back unless a newer value for the same bar arrived meanwhile (the script is
        // idempotent per bar, so rewriting the ones that did land is harmless).
        for (const { id, bars } of batch) for (const b of bars) if (!dirty.get(id.key)?.bars.has(b.openTime)) markDirty(id, b);
      } finally {
        flushing = undefined;
      }
      if ((dirty.size || unexpired.size || unpersisted.size) && ok()) schedule();
    })();
    return flushing;
  }

  /** Decodes members read back, skipping (and counting) any that are not a valid bar. */
  const decodeAll = (key: string, members: readonly string[]): Bar[] => {
    const bars: Bar[] = [];
    for (const m of members) {
      const b = decodeBar(m);
      if (b) bars.push(b);
    }
    const bad = members.length - bars.length;
    if (bad) {
      metrics?.writeErrors(bad);
      log('warn', `${key}: skipped ${bad} malformed member(s)`);
    }
    return bars;
  };

  const waitReady = (timeoutMs: number) =>
    ok()
      ? Promise.resolve(true)
      : refused || hung || timeoutMs <= 0
        ? Promise.resolve(false)
        : new Promise<boolean>((resolve) => {
            const t = setTimeout(() => {
              usableWaiters.delete(onReady);
              resolve(false);
            }, timeoutMs);
            const onReady = () => {
              clearTimeout(t);
              resolve(true);
            };
            usableWaiters.add(onReady);
          });

  async function flush(): Promise<void> {
    // Still making the first connection is not an outage: wait for it (bounded), or close() right
    // after start would drop the writes.
    if (!everReady && dirty.size && !closed) await waitReady(connectTimeoutMs);
    // Bounded: a producer that keeps writing must not keep a caller of flush waiting forever.
    for (let i = 0; i < 1000 && ok() && (dirty.size || flushing); i++) await (flushing ?? flushOnce());
  }

  // Never the URL, host or port: lastError is reduced by redisErrorText.
  const health = (): StoreHealth => ({ kind: 'redis', reachable: ok(), ...(hung ? { hung: true } : {}), pendingWrites: pendingWrites(), lastError });

  return {
    kind: 'redis',
    window,
    release(id) {
      // Pending writes keep their own copy of the bars (and the id), so they still reach Redis, with
      // the expiry again after them (a key they create has none yet). Not while Redis is away: each
      // released series kept its bars until it answered (a review: 1,000 bars per series freed,
      // clients loading cold series through an outage grow it by GBs an hour); the exchange has them.
      if (!ok() && (everReady || Date.now() > connectDeadline)) dirty.delete(id.key);
      windows.delete(id.key);
      idOf.delete(id.key);
      unpersisted.delete(id.key);
      expire(id);
    },
    stats: () => windowStats(windows.values()),
    upsert(id, bars) {
      const w = window(id);
      if (bars.length > 1) w.reserve(w.size + bars.length);
      let changed = false;
      for (const b of bars) {
        if (w.upsert(b) === 'ignored') continue;
        // Never written again: not kept either.
        if (refused) continue;
        markDirty(id, b);
        changed = true;
      }
      if (changed) schedule();
    },
    async restore(id) {
      if (!(await waitReady(connectDeadline - Date.now()))) {
        if (!aloneLogged) log('warn', `redis not reachable: ${id.key} and every series loaded until it answers start from the exchange alone`);
        aloneLogged = true;
        return undefined;
      }
      const key = candlesKey(id, keyPrefix);
      const w = window(id);
      let members: string[];
      try {
        members = await redis.zrange(key, -bufferSize, -1);
        answered();
      } catch (e) {
        failed(e);
        if (!aloneLogged) log('warn', `redis read failed (${lastError}): ${id.key} and every series loaded until it answers start from the exchange alone`);
        aloneLogged = true;
        return undefined;
      }
      const stored = decodeAll(key, members);
      w.reserve(w.size + stored.length);
      for (const b of stored) w.upsert(b);
      return w.newest();
    },
    async range(id, endTime, limit) {
      const mem = window(id).before(endTime, limit);
      // Hung or down: memory at once (a shorter answer), never a wait for Redis.
      if (mem.length >= limit || !ok() || limit <= 0) return mem;
      const key = candlesKey(id, keyPrefix);
      let stored: Bar[];
      try {
        stored = decodeAll(key, await redis.zrange(key, endTime, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit));
        answered();
      } catch (e) {
        // Went down or hung between the check and the read: memory is still a correct (shorter) answer.
        failed(e);
        return mem;
      }
      // Memory wins for the same open time: it holds writes not yet flushed.
      const merged = new Map<number, Bar>();
      for (const b of stored) merged.set(b.openTime, b);
      for (const b of mem) merged.set(b.openTime, b);
      return [...merged.values()].sort((a, z) => a.openTime - z.openTime).slice(-limit);
    },
    flush,
    health,
    async close() {
      await flush();
      // Said, not dropped in silence: the README promises a stop flushes (a review found 14 lost, unsaid).
      const lost = pendingWrites();
      if (lost > 0) log('warn', `stopping with ${lost} bar writes redis did not take (${lastError ?? 'not answering'}): they are lost`);
      closed = true;
      clearInterval(heartbeat);
      await quitRedis(redis);
    },
  };
}
