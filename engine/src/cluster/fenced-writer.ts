import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { encodeBar } from './bar-codec.ts';
import { leaseKeys, type SeriesKeys, seriesKeys } from './cluster-keys.ts';
import { INSTANCE_FREE_LUA, POINT_BATCH_LUA, POINT_WRITE_LUA, SERIES_EXPIRY_LUA, SERIES_FREE_LUA, WINDOW_SEED_LUA, WRITE_BATCH_LUA } from './cluster-scripts.ts';
import { MAX_FREED_KEPT } from '../store/redis-bar-store.ts';
import type { SeriesPoint } from '../series/define-series.ts';
import { encodePoint, encodeStatus, type InstanceStatus } from './point-codec.ts';
import { redisRunId } from './redis-identity.ts';
import { newEpoch } from './series-log.ts';

/** What Redis holds of a series: its bars, and the newest one's open time (none without bars). */
export interface StoredExtent {
  readonly count: number;
  readonly newest?: number;
}

export type WriteResult = { kind: 'written' | 'dropped'; epoch: string; offset: number } | { kind: 'fenced' };

/** A bar's write: `lost`, not written, the log is gone whole (see `write`'s `begins`). */
export type BarWriteResult = WriteResult | { kind: 'lost' };

/** A window's writes: `seeded` in one step (a log that did not exist), else how many of its bars were written and dropped as updates. */
export type WindowResult = { kind: 'seeded'; epoch: string } | { kind: 'updates'; written: number; dropped: number } | { kind: 'fenced' };

export interface FencedWriterConfig {
  redis: Redis;
  keyPrefix?: string;
  leaseKey: string;
  /** Bars kept per series (the sorted set's cap). */
  bufferSize: number;
  /** Updates kept per series for resumes and edge repairs. */
  historyUpdates: number;
  /** Freed bar series Redis keeps at most, for the whole cluster (see SERIES_FREE_LUA), and freed instance logs (INSTANCE_FREE_LUA); default MAX_FREED_KEPT. */
  maxFreedKept?: number;
  /**
   * The Redis written to is another one than before (its run id changed: a restart, perhaps from an
   * older file). What it lost of the last writes is not written again by the writes that follow: the
   * caller heals it (the ingest node takes the lead again). Called once per change.
   */
  onRedisChanged?: (before: string, now: string) => void;
}

/** A derived series instance's log not written for this long is dropped by Redis (nobody computes it any more). */
export const INSTANCE_LOG_TTL_MS = 24 * 3_600_000;

/**
 * A derived series instance the leader let go of (no edge holds it) is dropped by Redis this long
 * after (a client back within it resumes). Its parameters are the client's choice, so without it
 * every instance ever asked for stayed a day, ~240 KB each, at the per-address rate of new ones.
 */
export const RELEASED_INSTANCE_TTL_MS = 10 * 60_000;

/** Most updates in one script call (a takeover's heal writes thousands in one turn: Redis stays responsive between calls). */
const MAX_BATCH = 256;

/**
 * Most bars of a window seeded in one call (one ZADD of them, ~1 µs a bar in Redis); a longer one
 * (BUFFER_SIZE goes to a million) is written as updates, in calls of MAX_BATCH.
 */
export const MAX_SEED_BARS = 10_000;

/** Calls unanswered at most; updates made meanwhile wait for an answer (see `flush`). */
const MAX_IN_FLIGHT = 1;

/**
 * The same while full calls wait (a seed of many windows): Redis always has the next call, and
 * another command on the connection waits behind at most these (a few ms), not the whole backlog.
 */
const BULK_IN_FLIGHT = 4;

/** Calls that may be unanswered while `waiting` updates wait to be sent. */
const inFlightLimit = (waiting: number) => (waiting >= MAX_BATCH ? BULK_IN_FLIGHT : MAX_IN_FLIGHT);

/**
 * A busy leader's calls go at most this often (ms). Much of a call's cost, in the leader, in Redis and
 * in every edge, is per call (a write and a read on each socket), not per update: under a sustained
 * flow, waiting a moment for a larger batch costs each update at most this much latency and saves a
 * third of Redis's CPU per update (5,000 updates/s in 20 streams: 3.8 → 13.4 updates per call; Redis
 * 34–39 → 23–25 µs, an edge 29–32 → 23–24 µs, the leader 44–49 → 35–36 µs per update). An idle or
 * bursty flow (an exchange's tick every 2 s) does not wait (see BUSY_AFTER).
 */
export const BUSY_GAP_MS = 2;

/**
 * Calls that go at once after a pause of IDLE_MS without any (a burst, every stream's tick at once,
 * read in a few chunks, makes one to three); from the next one on the flow counts as sustained.
 */
const BUSY_AFTER = 3;
const IDLE_MS = 10 * BUSY_GAP_MS;

/** One update waiting for the end of the turn. */
interface QueuedBar {
  readonly window?: undefined;
  readonly token: string;
  readonly id: SeriesId;
  readonly bar: Bar;
  /** Whether it may begin a log Redis has none of (see `write`). */
  readonly begins: boolean;
  resolve(r: BarWriteResult): void;
  reject(e: unknown): void;
}

/** A whole window waiting, a call of its own (see `writeWindow`). */
interface QueuedWindow {
  readonly window: readonly Bar[];
  readonly token: string;
  readonly id: SeriesId;
  resolve(r: WindowResult): void;
  reject(e: unknown): void;
}

type Queued = QueuedBar | QueuedWindow;

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

type WithWrite = Redis & {
  /** numkeys, keys…, args… (the number of keys depends on the batch). */
  clusterWriteBatch(...args: Array<string | number>): Promise<Array<number | string>>;
  clusterSeedWindow(...args: Array<string | number>): Promise<Array<number | string>>;
  clusterWritePoint(...args: Array<string | number>): Promise<[number, number?, string?]>;
  clusterWritePoints(...args: Array<string | number>): Promise<Array<number | string>>;
  clusterSeriesExpiry(...args: Array<string | number>): Promise<number>;
  clusterSeriesFree(...args: Array<string | number>): Promise<number>;
  clusterInstanceFree(...args: Array<string | number>): Promise<number>;
};

/**
 * The leader's only way to write. Bar updates made in one event-loop turn go to Redis together, in
 * one script call (see WRITE_BATCH_LUA) at the end of the turn: it checks once that the lease still
 * holds `token` (else the whole batch is refused), then for each update in order drops it when older
 * than the stored version of its bar, or upserts it, advances its series' offset, appends it to the
 * bounded history and publishes it, atomically. An exchange pushes every stream in the same tick:
 * one round trip and one script run per burst instead of one per update. While a call is unanswered,
 * updates wait and go together with the next (see `flush`). Calls on one connection reach Redis in
 * the order they were made, so a series' offsets follow its updates.
 */
export class FencedWriter {
  private readonly redis: WithWrite;
  private runId: Promise<string> | undefined;
  /** The run id once learned on the current connection: batches then go out at the end of their turn. */
  private knownRunId: string | undefined;
  /** The run id last learned (kept across reconnects: a change is told, see onRedisChanged). */
  private lastRunId: string | undefined;
  /** Batches waiting for the run id: until they are sent, later ones wait behind them (order). */
  private waiting = 0;
  /**
   * Updates not sent yet, sent by `flush` once the turn's I/O callbacks have run (setImmediate: every
   * chunk of upstream frames read in this turn, not only the first), or once MAX_BATCH are queued;
   * while a call is unanswered, when it is answered.
   */
  private queued: Queued[] = [];
  /** Where the updates not sent yet start in `queued` (those before it went in calls). */
  private head = 0;
  /**
   * The epoch a batch offers a series Redis has no position of: this writer's random id and a count
   * (unique without drawing random bytes per batch, which cost more than the rest of a batch's work).
   */
  private readonly epochBase = newEpoch();
  private batches = 0;
  /** Calls sent (or waiting for the run id) and not answered yet. */
  private inFlight = 0;
  /** Calls since the last pause of IDLE_MS (the flow is sustained from BUSY_AFTER on). */
  private callsSincePause = 0;
  /** When the last call went (ms, performance.now()). */
  private lastCallAt = -Infinity;
  /** Set while a busy flow waits for BUSY_GAP_MS since the last call. */
  private gapTimer: NodeJS.Timeout | undefined;
  /**
   * Set while a window's call is unanswered: nothing queued after it goes meanwhile, so when the log
   * turns out to exist and its bars are written as updates instead, they still come before the
   * series' later updates (a chart ignores a bar older than its newest).
   */
  private barrier = false;

  constructor(private readonly cfg: FencedWriterConfig) {
    if (!(cfg.bufferSize >= 1) || !(cfg.historyUpdates >= 1)) throw new TypeError('FencedWriter: bufferSize and historyUpdates must be >= 1');
    this.redis = cfg.redis as WithWrite;
    if (typeof (cfg.redis as unknown as { clusterWriteBatch?: unknown }).clusterWriteBatch !== 'function') cfg.redis.defineCommand('clusterWriteBatch', { lua: WRITE_BATCH_LUA });
    if (typeof (cfg.redis as unknown as { clusterSeedWindow?: unknown }).clusterSeedWindow !== 'function') cfg.redis.defineCommand('clusterSeedWindow', { numberOfKeys: 4, lua: WINDOW_SEED_LUA });
    if (typeof (cfg.redis as unknown as { clusterWritePoint?: unknown }).clusterWritePoint !== 'function') cfg.redis.defineCommand('clusterWritePoint', { numberOfKeys: 4, lua: POINT_WRITE_LUA });
    if (typeof (cfg.redis as unknown as { clusterWritePoints?: unknown }).clusterWritePoints !== 'function') cfg.redis.defineCommand('clusterWritePoints', { numberOfKeys: 4, lua: POINT_BATCH_LUA });
    if (typeof (cfg.redis as unknown as { clusterSeriesExpiry?: unknown }).clusterSeriesExpiry !== 'function') cfg.redis.defineCommand('clusterSeriesExpiry', { numberOfKeys: 4, lua: SERIES_EXPIRY_LUA });
    if (typeof (cfg.redis as unknown as { clusterSeriesFree?: unknown }).clusterSeriesFree !== 'function') cfg.redis.defineCommand('clusterSeriesFree', { numberOfKeys: 6, lua: SERIES_FREE_LUA });
    if (typeof (cfg.redis as unknown as { clusterInstanceFree?: unknown }).clusterInstanceFree !== 'function') cfg.redis.defineCommand('clusterInstanceFree', { numberOfKeys: 6, lua: INSTANCE_FREE_LUA });
    if (cfg.maxFreedKept !== undefined && !(cfg.maxFreedKept >= 1)) throw new TypeError('FencedWriter: maxFreedKept must be >= 1');
    cfg.redis.on('close', this.failUnanswered);
    cfg.redis.on('ready', this.forgetRunId);
  }

  /**
   * This node took the lead (its takeover heals what Redis lacks): a Redis restarted before is no
   * change to report (it took the lead a second time, and healed twice, after most restarts).
   */
  newTerm(): void {
    this.lastRunId = undefined;
  }

  /** Lets go of the connection's events (the connection stays the caller's). */
  close(): void {
    this.cfg.redis.off('close', this.failUnanswered);
    this.cfg.redis.off('ready', this.forgetRunId);
  }

  /** A new connection may reach a restarted Redis: its identity is learned again before the next write. */
  private readonly forgetRunId = (): void => {
    this.runId = undefined;
    this.knownRunId = undefined;
  };

  /**
   * A write call in flight when the connection dropped fails rather than being re-sent by ioredis on
   * the next connection: it carries the run id of the Redis it was made for, and a Redis restarted
   * from an older snapshot holds that run id in its logs, so it went on under the old epoch, reusing
   * offsets clients had seen with other bars. Failed, it is kept and sent again (LeaderSink,
   * LeaderSeries) with the new run id. ioredis keeps a dropped connection's unanswered commands in
   * `prevCommandQueue` until it is ready again (`close` comes first); its other commands stay.
   */
  private readonly failUnanswered = (): void => {
    // The next connection may reach another Redis: nothing goes with the old run id. (Commands made
    // while disconnected would wait in ioredis's offline queue and go before 'ready' tells us: the
    // writer's connection keeps that queue off, enableOfflineQueue: false, as the ingest node's does.)
    this.forgetRunId();
    const q = (this.cfg.redis as unknown as { prevCommandQueue?: { toArray(): ResendItem[]; clear(): void; push(i: ResendItem): void } | null }).prevCommandQueue;
    if (!q || typeof q.toArray !== 'function') return;
    const items = q.toArray();
    const mine = items.filter((i) => (i.command.name === 'evalsha' || i.command.name === 'eval') && WRITE_SCRIPTS.has(String(i.command.args[0])));
    if (!mine.length) return;
    q.clear();
    for (const i of items) if (!mine.includes(i)) q.push(i);
    for (const i of mine) i.command.reject(new Error('the connection to Redis dropped before this write was answered'));
  };

  /** How many bars Redis holds for each series, and the newest one's open time (in one round trip). */
  async storedExtents(ids: readonly SeriesId[]): Promise<StoredExtent[]> {
    if (!ids.length) return [];
    const p = this.redis.pipeline();
    for (const id of ids) {
      const key = seriesKeys(id, this.cfg.keyPrefix).candles;
      p.zcard(key);
      p.zrange(key, -1, -1, 'WITHSCORES');
    }
    const out = (await p.exec()) ?? [];
    const reply = (k: number) => {
      const [err, v] = out[k] ?? [new Error('no reply'), undefined];
      if (err) throw err;
      return v;
    };
    return ids.map((_, i) => {
      const count = Number(reply(2 * i));
      const newest = reply(2 * i + 1) as string[];
      return newest.length === 2 ? { count, newest: Number(newest[1]) } : { count };
    });
  }

  private identity(): Promise<string> {
    if (this.runId) return this.runId;
    const p = (this.runId = redisRunId(this.redis));
    p.then(
      (id) => {
        if (this.runId === p) this.knownRunId = id;
        const before = this.lastRunId;
        this.lastRunId = id;
        if (before !== undefined && before !== id) this.cfg.onRedisChanged?.(before, id);
      },
      () => {
        if (this.runId === p) this.runId = undefined;
      },
    );
    return p;
  }

  /**
   * Writes one update under the lease `token`, with the other updates of this turn (one script call
   * at its end). Rejects when Redis cannot be reached (nothing of the batch was written then, or the
   * retry is idempotent: the version check drops what got through). `begins` false (a live update):
   * a log Redis has neither position nor bars of is not begun by it (`lost`: its window is the caller's
   * to write).
   */
  write(token: string, id: SeriesId, bar: Bar, { begins = true } = {}): Promise<BarWriteResult> {
    return new Promise((resolve, reject) => {
      if (this.queued.length === this.head) setImmediate(this.flush);
      this.queued.push({ token, id, bar, begins, resolve, reject });
      if (this.queued.length - this.head >= MAX_BATCH) this.flush();
    });
  }

  /**
   * Writes a series' whole window (bars in ascending time, one per time) under the lease `token`, in
   * order with the other writes: into a log Redis does not have yet in one step (WINDOW_SEED_LUA);
   * into one it has (or a window of more than MAX_SEED_BARS), as updates, each checked against the
   * stored version of its bar. Rejects when Redis cannot be reached.
   */
  writeWindow(token: string, id: SeriesId, bars: readonly Bar[]): Promise<WindowResult> {
    if (!bars.length) return Promise.resolve({ kind: 'updates', written: 0, dropped: 0 });
    if (bars.length > MAX_SEED_BARS) return this.windowAsUpdates(bars.map((bar) => this.write(token, id, bar)));
    return new Promise((resolve, reject) => {
      if (this.queued.length === this.head) setImmediate(this.flush);
      this.queued.push({ window: bars, token, id, resolve, reject });
    });
  }

  /** A window's results as its bars' updates settle (rejects with the first failure, once all settled). */
  private async windowAsUpdates(writes: ReadonlyArray<Promise<BarWriteResult>>): Promise<WindowResult> {
    const settled = await Promise.allSettled(writes);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const kinds = settled.map((r) => (r as PromiseFulfilledResult<BarWriteResult>).value.kind);
    if (kinds.includes('fenced')) return { kind: 'fenced' };
    const written = kinds.filter((k) => k === 'written').length;
    return { kind: 'updates', written, dropped: kinds.length - written };
  }

  /**
   * Sends what was queued: one call per run of updates under the same token (at most MAX_BATCH), in
   * order. While MAX_IN_FLIGHT calls (BULK_IN_FLIGHT full ones) are unanswered it sends nothing: what
   * comes meanwhile goes in one call when an answer comes. A busy leader so makes fewer, larger calls
   * (Redis's and its own cost is mostly per call when turns carry an update or two), and once the flow
   * is sustained a call also waits until BUSY_GAP_MS after the previous one; an idle one sends each
   * turn at once.
   */
  private readonly flush = (): void => {
    const queued = this.queued;
    const waiting = queued.length - this.head;
    if (!waiting || this.barrier || this.inFlight >= inFlightLimit(waiting)) return;
    const now = performance.now();
    if (now - this.lastCallAt >= IDLE_MS) this.callsSincePause = 0;
    if (this.callsSincePause >= BUSY_AFTER && waiting < MAX_BATCH) {
      if (this.gapTimer) return;
      const wait = this.lastCallAt + BUSY_GAP_MS - now;
      if (wait > 0) {
        this.gapTimer = setTimeout(this.afterGap, wait);
        return;
      }
    }
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.callsSincePause++;
    // Calls up to the limit; the rest waits for an answer. A seed of many windows at once (an edge's
    // burst of on-demand series) so queues in this writer, not as thousands of calls on the
    // connection ahead of every other command, and a turn encodes a few calls, not all of them.
    let i = this.head;
    while (i < queued.length && !this.barrier && this.inFlight < inFlightLimit(queued.length - i)) {
      const first = queued[i]!;
      if (first.window) {
        this.barrier = true;
        this.dispatch((runId) => this.sendWindow(runId, first), [first]);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < queued.length && j - i < MAX_BATCH && !queued[j]!.window && queued[j]!.token === first.token) j++;
      const batch = queued.slice(i, j) as QueuedBar[];
      this.dispatch((runId) => this.send(runId, batch), batch);
      i = j;
    }
    if (i === queued.length) {
      this.queued = [];
      this.head = 0;
    } else if (i > MAX_BATCH * 64 && i * 2 > queued.length) {
      // Drops what went, now and then (not at every call: a long queue would be copied each time).
      this.queued = queued.slice(i);
      this.head = 0;
    } else this.head = i;
    // The gap counts from when the call went, after its batch was encoded (a preempted encoding
    // must not shorten it).
    this.lastCallAt = performance.now();
  };

  private readonly afterGap = (): void => {
    this.gapTimer = undefined;
    this.flush();
  };

  /** One call answered (or failed): what queued up meanwhile goes now (or after the gap, when busy). */
  private readonly answered = (): void => {
    this.inFlight--;
    this.flush();
  };

  /** Sends one call once the run id is known (`send`), in the order calls were made; on failure rejects what it carried. */
  private dispatch(send: (runId: string) => void, batch: readonly Queued[]): void {
    this.inFlight++;
    // A call that could not be made: what it carried fails (a window's bars go as updates), the writer goes on.
    const failed = (e: unknown) => {
      for (const q of batch) {
        if (q.window) this.windowFailed(q);
        else q.reject(e);
      }
      this.answered();
    };
    const sendSafely = (runId: string) => {
      try {
        send(runId);
      } catch (e) {
        failed(e);
      }
    };
    if (this.knownRunId !== undefined && this.waiting === 0) return sendSafely(this.knownRunId);
    this.waiting++;
    this.identity().then(
      (runId) => {
        this.waiting--;
        sendSafely(runId);
      },
      (e: unknown) => {
        this.waiting--;
        failed(e);
      },
    );
  }

  /**
   * A window that was not seeded (its log exists; or its call failed: Redis may have run it, or not)
   * goes as updates, queued ahead of everything that waited behind it (the barrier kept it back), so
   * none of the series' later updates reaches Redis before them; each is checked against the stored
   * version of its bar (a seed that did run drops them all). `bars`: those that differ from what the
   * log stores (the others count as dropped: written, each would be). Releases the barrier.
   */
  private windowFailed(q: QueuedWindow, bars: readonly Bar[] = q.window): void {
    const writes: Array<Promise<BarWriteResult>> = [];
    const items = bars.map((bar): QueuedBar => {
      let item!: QueuedBar;
      writes.push(new Promise<BarWriteResult>((resolve, reject) => (item = { token: q.token, id: q.id, bar, begins: true, resolve, reject })));
      return item;
    });
    this.queued.splice(this.head, 0, ...items);
    const same = q.window.length - bars.length;
    this.windowAsUpdates(writes).then((r) => q.resolve(r.kind === 'updates' ? { ...r, dropped: r.dropped + same } : r), q.reject);
    this.barrier = false;
  }

  /** A window's call (see WINDOW_SEED_LUA); a log Redis already has gets the bars it lacks as updates, a failed call all of them (windowFailed). */
  private sendWindow(runId: string, q: QueuedWindow): void {
    let body = '';
    for (const bar of q.window) body += `${bar.openTime} ${encodeBar(bar)}\n`;
    const k = seriesKeys(q.id, this.cfg.keyPrefix);
    this.redis.clusterSeedWindow(this.cfg.leaseKey, k.candles, k.pos, k.hist, q.token, runId, this.freshEpoch(), this.cfg.bufferSize, this.cfg.historyUpdates, k.channel, body).then(
      (r) => {
        if (r[0] === -1) q.resolve({ kind: 'fenced' });
        else if (r[0] === 1) q.resolve({ kind: 'seeded', epoch: String(r[2]) });
        else this.windowFailed(q, r.slice(1).map((i) => q.window[Number(i) - 1]!));
        this.barrier = false;
        this.answered();
      },
      () => {
        // Not a rejection: its bars then waited for a retry while the series' later updates went first.
        this.windowFailed(q);
        this.answered();
      },
    );
  }

  /** An epoch to offer a log Redis has no position of (see epochBase). */
  private freshEpoch(): string {
    return `${this.epochBase}${(++this.batches).toString(36)}`;
  }

  private send(runId: string, batch: QueuedBar[]): void {
    const epoch = this.freshEpoch();
    // One string for the batch (see WRITE_BATCH_LUA); series keys and members hold no space or newline.
    let body = '';
    for (const { id, bar, begins } of batch) body += `${id.key} ${bar.openTime} ${bar.closed ? 1 : 0} ${begins ? 1 : 0} ${bar.volume} ${encodeBar(bar)}\n`;
    this.redis.clusterWriteBatch(1, this.cfg.leaseKey, batch[0]!.token, runId, epoch, this.cfg.bufferSize, this.cfg.historyUpdates, this.cfg.keyPrefix ?? '', body).then(
      (r) => {
        if (r[0] === -1) for (const q of batch) q.resolve({ kind: 'fenced' });
        else
          batch.forEach((q, i) => {
            const status = r[3 * i];
            if (status === -2) q.reject(new Error(`cluster write of ${q.id.key} failed in Redis: ${String(r[3 * i + 2])}`));
            else if (status === 3) q.resolve({ kind: 'lost' });
            else q.resolve({ kind: status === 1 ? 'written' : 'dropped', offset: Number(r[3 * i + 1]), epoch: String(r[3 * i + 2]) });
          });
        this.answered();
      },
      (e: unknown) => {
        for (const q of batch) q.reject(e);
        this.answered();
      },
    );
  }

  /**
   * Sets a bar series' keys to expire in `ttlMs` (a series freed), or keeps them (`ttlMs` 0: held
   * again), under the lease `token`; at most `maxFreedKept` freed series are kept in the cluster, the
   * oldest beyond dropped now (see SERIES_FREE_LUA). A write landing after it (one in flight when the
   * series was freed) keeps the expiry unless it empties the set (a series of one bar), and expiries
   * go in the order they were made. Resolves false when fenced.
   */
  async expireSeries(token: string, id: SeriesId, ttlMs: number): Promise<boolean> {
    const k = seriesKeys(id, this.cfg.keyPrefix);
    const { freed, kept } = leaseKeys(this.cfg.keyPrefix);
    const max = this.cfg.maxFreedKept ?? MAX_FREED_KEPT;
    return (await this.redis.clusterSeriesFree(this.cfg.leaseKey, freed, k.candles, k.pos, k.hist, kept, token, ttlMs, id.key, max, this.cfg.keyPrefix ?? '')) >= 0;
  }

  /** Sets any log's keys to expire in `ttlMs`, or keeps them (no bound on how many: see freeInstanceLog). */
  async expireLog(token: string, k: SeriesKeys, ttlMs: number): Promise<boolean> {
    return (await this.redis.clusterSeriesExpiry(this.cfg.leaseKey, k.candles, k.pos, k.hist, token, ttlMs)) === 1;
  }

  /**
   * A derived-series instance's log (`label|SYMBOL:interval`, its `instanceKeys`) freed: it expires in
   * `ttlMs`, and at most `maxFreedKept` freed logs are kept in the cluster, the oldest beyond dropped
   * now (see INSTANCE_FREE_LUA); `ttlMs` 0: held (named among the kept logs). Resolves false when fenced.
   */
  async freeInstanceLog(token: string, member: string, k: SeriesKeys, ttlMs: number): Promise<boolean> {
    const { freedInstances, keptInstances } = leaseKeys(this.cfg.keyPrefix);
    const max = this.cfg.maxFreedKept ?? MAX_FREED_KEPT;
    return (await this.redis.clusterInstanceFree(this.cfg.leaseKey, freedInstances, k.candles, k.pos, k.hist, keptInstances, token, ttlMs, member, max, this.cfg.keyPrefix ?? '')) >= 0;
  }

  /**
   * Writes one derived-series point into an instance's log (`instanceKeys`) under the lease `token`:
   * the same fencing, offsets, history and publish as a bar (see POINT_WRITE_LUA for its version check).
   * The log keeps `bufferSize` points and the instance's status.
   */
  writePoint(token: string, keys: SeriesKeys, point: SeriesPoint): Promise<WriteResult> {
    return this.writeInstance(token, keys, point.time, encodePoint(point), point.closed ? 1 : 0);
  }

  /** Writes an instance's status (failed with its error, or live) into its log: stored above every point, so a snapshot has it. */
  writeStatus(token: string, keys: SeriesKeys, status: InstanceStatus): Promise<WriteResult> {
    return this.writeInstance(token, keys, '+inf', encodeStatus(status), 1);
  }

  /**
   * Writes many points of one instance's log (a seed's window) in calls of up to MAX_BATCH points
   * (POINT_BATCH_LUA), in order: one promise per point, as `writePoint` gives.
   */
  writePoints(token: string, keys: SeriesKeys, points: readonly SeriesPoint[]): Array<Promise<WriteResult>> {
    const out: Array<Promise<WriteResult>> = [];
    for (let i = 0; i < points.length; i += MAX_BATCH) {
      const chunk = points.slice(i, i + MAX_BATCH);
      // Encoded now, in the caller's turn: after the await below, every chunk of every caller that
      // turn was encoded in one run of continuations.
      let body = '';
      for (const p of chunk) body += `${p.time} ${p.closed ? 1 : 0} ${encodePoint(p)}\n`;
      const call = this.writePointChunk(token, keys, chunk, body);
      chunk.forEach((_, j) => out.push(call.then((r) => r[j]!)));
    }
    return out;
  }

  private async writePointChunk(token: string, keys: SeriesKeys, points: readonly SeriesPoint[], body: string): Promise<WriteResult[]> {
    const runId = await this.identity();
    const r = await this.redis.clusterWritePoints(this.cfg.leaseKey, keys.candles, keys.pos, keys.hist, token, this.cfg.bufferSize + 1, this.cfg.historyUpdates, runId, this.freshEpoch(), keys.channel, INSTANCE_LOG_TTL_MS, body);
    if (r[0] === -1) return points.map(() => ({ kind: 'fenced' }));
    return points.map((p, i) => {
      const status = r[3 * i];
      if (status === -2) throw new Error(`cluster write of a point at ${p.time} failed in Redis: ${String(r[3 * i + 2])}`);
      return { kind: status === 1 ? 'written' : 'dropped', offset: Number(r[3 * i + 1]), epoch: String(r[3 * i + 2]) };
    });
  }

  private async writeInstance(token: string, keys: SeriesKeys, score: number | string, member: string, closed: number): Promise<WriteResult> {
    const runId = await this.identity();
    const r = await this.redis.clusterWritePoint(
      this.cfg.leaseKey,
      keys.candles,
      keys.pos,
      keys.hist,
      token,
      score,
      member,
      closed,
      this.cfg.bufferSize + 1,
      this.cfg.historyUpdates,
      runId,
      this.freshEpoch(),
      keys.channel,
      INSTANCE_LOG_TTL_MS,
    );
    if (r[0] === -1) return { kind: 'fenced' };
    return { kind: r[0] === 1 ? 'written' : 'dropped', offset: Number(r[1]), epoch: String(r[2]) };
  }
}
