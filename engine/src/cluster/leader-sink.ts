import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { FencedWriter, StoredExtent } from './fenced-writer.ts';
import type { Leadership, LeaderLease } from './leader-lease.ts';
import { RetryBackoff } from './retry-backoff.ts';

export interface LeaderSinkConfig {
  writer: Pick<FencedWriter, 'write' | 'writeWindow' | 'storedExtents'>;
  lease: Pick<LeaderLease, 'leader$' | 'state' | 'stepDown'>;
  /** The series this node follows and their newest bars (the hot windows), for the heal at takeover. */
  series(): readonly SeriesId[];
  tail(id: SeriesId, n: number): Bar[];
  /**
   * Whether the node still runs this series. A failed write of one it stopped is not kept: its keys
   * were set to expire or dropped, and the write retried later made them again, with no expiry.
   */
  held?(id: SeriesId): boolean;
  /** Bars of each series rewritten when this node starts leading (default 10). */
  healBars?: number;
  /** A series Redis holds fewer bars of than this node gets its whole window (up to this many) written. */
  windowBars?: number;
  /** Updates waiting while Redis is unreachable, per series (newest per open time; default 1000). */
  maxPending?: number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  metrics?: { written(n: number): void; dropped(n: number): void; fenced(): void; failed?(): void };
}

/** Bars of whole windows in flight at most (a universe's windows, 1.5 M bars, must not all wait in memory at once). */
const WINDOW_BARS_IN_FLIGHT = 5000;

/** Longest reason kept from a failed write (logs, /health). */
const MAX_REASON = 200;
/** At most one line a minute about failing writes (some may fail and some succeed, in turns). */
const LOG_EVERY_MS = 60_000;

/**
 * Where an ingest node's updates go (ROLE=ingest). Every node runs its pipelines (a hot standby);
 * only the leader writes, through the fenced writer. A refused write (the lease is another's) steps
 * this node down at once. A write that failed to reach Redis is kept (newest per bar, bounded) and
 * retried in order, later as rounds keep failing (a Redis out of memory or read-only refuses every
 * write while it lasts: retrying all every 250 ms cost the leader and Redis a third of a core each),
 * and said in the log (at most once a minute) and in `failing`. On taking the lead the node rewrites
 * the tail of every series: what the old leader did not write gets written, and the version check
 * drops the rest (the heal is idempotent).
 */
export class LeaderSink {
  private readonly pending = new Map<string, { id: SeriesId; bars: Map<number, Bar> }>();
  private retrying: NodeJS.Timeout | undefined;
  /**
   * A failing spell: from a failed write until one succeeds with nothing kept any more (a Redis out of
   * memory takes some writes while it refuses others: those do not end it).
   */
  private failingSpell = false;
  /** The last reason a write failed. */
  private lastReason = '';
  /** When the last line about failing writes was written, and whether this spell has one. */
  private warnedAt = -Infinity;
  private warned = false;
  private readonly backoff = new RetryBackoff();
  /** Kept writes sent again and not answered yet (still waiting, for /health). */
  private resent = 0;
  private readonly sub;
  /** Series whose whole window waits to be written (ids only: the window is read when its turn comes). */
  private readonly windows = new Map<string, SeriesId>();
  private writingWindows = false;
  /** What waits for a series' window to be in Redis (writeWindow's promise), by series. */
  private readonly windowWaiters = new Map<string, Array<() => void>>();
  private stopped = false;

  constructor(private readonly cfg: LeaderSinkConfig) {
    this.sub = cfg.lease.leader$.subscribe((leader) => {
      if (leader) return void this.heal();
      // A standby writes nothing: nothing of the leader's failing writes is its to report.
      this.pending.clear();
      this.windows.clear();
      this.retriedWindows.clear();
      this.settleWindows();
      this.failingSpell = false;
    });
  }

  /**
   * Writes a series' whole window (its newest `windowBars`), behind the other windows waiting: a series
   * whose history reached the store without passing through `publish` (a REST bootstrap, a custom
   * interval's resampled history). At most WINDOW_BARS_IN_FLIGHT bars wait for Redis at once.
   * Resolves once its writes settled (or the node stopped leading): an edge told the series is live
   * then reads its whole window, not the part written so far (with many windows waiting, an edge's
   * first `historical` was short, and a second followed).
   */
  writeWindow(id: SeriesId): Promise<void> {
    if (!this.cfg.lease.state.leader) return Promise.resolve(); // taking the lead heals
    this.windows.set(id.key, id);
    const written = new Promise<void>((resolve) => {
      const waiting = this.windowWaiters.get(id.key);
      if (waiting) waiting.push(resolve);
      else this.windowWaiters.set(id.key, [resolve]);
    });
    if (!this.writingWindows) void this.drainWindows();
    return written;
  }

  /** Lets go of every wait for a window (not leading, or stopped: nothing more is written here). */
  private settleWindows(): void {
    for (const waiting of this.windowWaiters.values()) for (const resolve of waiting) resolve();
    this.windowWaiters.clear();
  }

  /** Whole windows waiting to be written, sent and not answered yet, or failed and waiting to go again (the node is not ready meanwhile). */
  get windowsWaiting(): number {
    let waiting = 0;
    for (const r of this.retriedWindows.values()) if (!r.resent) waiting++;
    return this.windows.size + this.windowsSent + waiting;
  }

  /**
   * Series whose window write failed, waiting for the next round: their live bars stay held (the
   * window, read again then, holds them) and their waiters wait on. Kept as updates instead, a live
   * bar written first began the log with one bar, and the window followed as older updates that no
   * chart shows; and the waiters were told written (an edge answered `live` served 1 bar: a review).
   * `resent`: sent again and not answered yet (its bars still count as kept, for /health).
   */
  private readonly retriedWindows = new Map<string, { id: SeriesId; bars: number; resent: boolean }>();
  private windowRetry: NodeJS.Timeout | undefined;

  /** Windows of the slice in flight. */
  private windowsSent = 0;

  private async drainWindows(): Promise<void> {
    this.writingWindows = true;
    try {
      let inFlight: Array<Promise<void>> = [];
      let bars = 0;
      for (const [key, id] of this.windows) {
        const s = this.cfg.lease.state;
        if (this.stopped || !s.leader) break;
        this.windows.delete(key);
        this.windowsSent++;
        const window = this.cfg.tail(id, this.cfg.windowBars ?? this.cfg.healBars ?? 10);
        const sent = this.sendWindow(s.token!, id, window);
        inFlight.push(sent.then(() => undefined));
        bars += window.length;
        const waiting = this.windowWaiters.get(key);
        this.windowWaiters.delete(key);
        if (waiting) void sent.then((ok) => (ok ? waiting.forEach((resolve) => resolve()) : this.waitAgain(key, waiting)));
        if (bars >= WINDOW_BARS_IN_FLIGHT) {
          await Promise.all(inFlight);
          inFlight = [];
          bars = 0;
          this.windowsSent = 0;
        }
      }
      await Promise.all(inFlight);
    } finally {
      this.writingWindows = false;
      this.windowsSent = 0;
    }
    // Windows asked for while the last slice was in flight.
    if (this.windows.size && !this.stopped && this.cfg.lease.state.leader) void this.drainWindows();
  }

  /** Why writes to Redis fail, with how many updates wait to be retried; undefined while none fail or wait. */
  get failing(): { reason: string; pending: number } | undefined {
    let pending = this.resent;
    for (const p of this.pending.values()) pending += p.bars.size;
    // A failed window's bars are kept too, waiting or sent again: counted only as updates, the gauge
    // read 0 through a spell in which every write that failed was a window (a CI run of leader-write-failures).
    for (const r of this.retriedWindows.values()) pending += r.bars;
    return !this.failingSpell && pending === 0 ? undefined : { reason: this.lastReason, pending };
  }

  publish(id: SeriesId, bar: Bar): void {
    const s = this.cfg.lease.state;
    if (!s.leader) return;
    // Its window, read when its turn comes, holds this bar's newest version. Written first, a live bar
    // made edges count the series written with one bar (ready, serving a short history), and the older
    // bars that followed reached no chart (a chart ignores updates older than its newest bar).
    if (this.windows.has(id.key) || this.windowFailed(id.key) || this.heldByHeal(id.key, bar.openTime)) return;
    void this.send(s.token!, id, bar, false, false);
  }

  /**
   * A whole window (see FencedWriter.writeWindow); on failure it goes again whole, after a backoff
   * (`retriedWindows`). Resolves false when it failed.
   */
  private sendWindow(token: string, id: SeriesId, bars: readonly Bar[]): Promise<boolean> {
    return this.cfg.writer.writeWindow(token, id, bars).then(
      (r) => {
        this.answeredAgain(id.key);
        this.succeeded();
        if (r.kind === 'fenced') this.fenced(token);
        else if (r.kind === 'seeded') this.cfg.metrics?.written(bars.length);
        else {
          this.cfg.metrics?.written(r.written);
          this.cfg.metrics?.dropped(r.dropped);
        }
        return true;
      },
      (e: unknown) => {
        this.answeredAgain(id.key);
        this.failed(e);
        if (!this.stopped && this.cfg.held?.(id) !== false && this.cfg.lease.state.token === token) {
          this.retriedWindows.set(id.key, { id, bars: bars.length, resent: false });
          this.retryWindowsLater();
        }
        return false;
      },
    );
  }

  /** A window that failed and waits for its next round. */
  private windowFailed(key: string): boolean {
    return this.retriedWindows.get(key)?.resent === false;
  }

  /** A window sent again was answered (its bars no longer count as kept). */
  private answeredAgain(key: string): void {
    if (this.retriedWindows.get(key)?.resent) this.retriedWindows.delete(key);
  }

  /** A failed window's waiters wait for its next round (told at once if there is none: not leading, stopped, or let go). */
  private waitAgain(key: string, waiting: Array<() => void>): void {
    if (!this.windowFailed(key)) return waiting.forEach((resolve) => resolve());
    const now = this.windowWaiters.get(key);
    if (now) now.push(...waiting);
    else this.windowWaiters.set(key, waiting);
  }

  private retryWindowsLater(): void {
    if (this.windowRetry) return;
    this.windowRetry = setTimeout(() => {
      this.windowRetry = undefined;
      if (this.stopped || !this.cfg.lease.state.leader) return;
      for (const [key, r] of this.retriedWindows) {
        if (r.resent) continue;
        this.windows.set(key, r.id);
        r.resent = true;
      }
      if (!this.writingWindows) void this.drainWindows();
    }, this.backoff.next());
  }

  /**
   * `resent`: a kept write sent again (counted in `failing` until answered). `begins` false: a live
   * bar, which does not begin a log Redis lost whole (its window is written instead, see `restarted`).
   */
  private send(token: string, id: SeriesId, bar: Bar, resent = false, begins = true): Promise<void> {
    return this.cfg.writer.write(token, id, bar, { begins }).then(
      (r) => {
        if (resent) this.resent--;
        this.succeeded();
        if (r.kind === 'fenced') this.fenced(token);
        else if (r.kind === 'lost') {
          // Its window, written once, holds this bar (and the others of its series answered lost meanwhile).
          if (this.rewritingLost.has(id.key)) return;
          this.rewritingLost.add(id.key);
          void this.restarted(id, 'is gone from redis (deleted or evicted, every key of it)').then(() => this.rewritingLost.delete(id.key));
        } else if (r.kind === 'written') {
          this.cfg.metrics?.written(1);
          if (r.offset === 1) void this.restarted(id, 'began again in redis under a new epoch (redis restarted, or its position went: an eviction, a delete)');
        } else this.cfg.metrics?.dropped(1);
      },
      (e: unknown) => {
        if (resent) this.resent--;
        this.failed(e);
        this.keep(id, bar);
      },
    );
  }

  /**
   * An update began its series' log (offset 1): Redis lost the log's position mid-term (restarted,
   * evicted, deleted) and kept what bars it had, maybe one. Or a live update found the log gone whole
   * (`lost`: it began nothing). Its window is written again, as at a takeover (only the bars Redis
   * lacks; a log gone whole in one step, as a cold series' first): edges served 1–3 bars for the rest
   * of the term (a Redis-fault review). Said at most once a minute.
   */
  private restarted(id: SeriesId, what: string): Promise<void> {
    const written = this.writeWindow(id);
    this.restarts++;
    const now = performance.now();
    if (now - this.restartSaidAt >= LOG_EVERY_MS) {
      this.restartSaidAt = now;
      this.cfg.log?.('warn', `the log of ${id.key} ${what}: its window is written again (${this.restarts} so far)`);
    }
    return written;
  }

  /** Series whose log was found gone whole, until their window is written again (one rewrite each). */
  private readonly rewritingLost = new Set<string>();

  /** Logs Redis lost mid-term and written again (for /health). */
  restarts = 0;
  private restartSaidAt = -Infinity;

  /**
   * A write Redis refused under `token`: this node no longer leads under it. Only a refusal under the
   * current token steps it down: a write queued in an earlier term of this node and answered after it
   * leads again (a backlog outlives a lapse) must not end the new term.
   */
  private fenced(token: string): void {
    this.cfg.metrics?.fenced();
    if (this.cfg.lease.state.token === token) this.cfg.lease.stepDown('a write was refused: the lease is no longer ours (fenced)');
  }

  private failed(e: unknown): void {
    this.cfg.metrics?.failed?.();
    this.backoff.failed();
    this.lastReason = String((e as Error)?.message ?? e).slice(0, MAX_REASON);
    if (this.failingSpell) return;
    this.failingSpell = true;
    const now = performance.now();
    if (now - this.warnedAt < LOG_EVERY_MS) return;
    this.warnedAt = now;
    this.warned = true;
    this.cfg.log?.('warn', `writes to redis fail (${this.lastReason}): updates are kept, newest per bar, and retried`);
  }

  private succeeded(): void {
    if (!this.failingSpell || this.resent > 0 || this.pending.size > 0 || this.retriedWindows.size > 0) return;
    this.failingSpell = false;
    if (!this.warned) return;
    this.warned = false;
    this.cfg.log?.('info', 'writes reach redis again');
  }

  private keep(id: SeriesId, bar: Bar): void {
    // Stopped: nothing is written any more (a retry timer would only hold the process's exit).
    if (this.stopped || this.cfg.held?.(id) === false) return;
    let p = this.pending.get(id.key);
    if (!p) this.pending.set(id.key, (p = { id, bars: new Map() }));
    const old = p.bars.get(bar.openTime);
    // Newest version per bar: a later update of the same bar replaces an earlier one.
    if (!old || bar.closed || (!old.closed && bar.volume >= old.volume)) p.bars.set(bar.openTime, bar);
    if (p.bars.size > (this.cfg.maxPending ?? 1000)) p.bars.delete(Math.min(...p.bars.keys()));
    this.retryLater();
  }

  private retryLater(): void {
    if (this.retrying) return;
    const wait = this.backoff.next();
    this.retrying = setTimeout(() => {
      this.retrying = undefined;
      const s = this.cfg.lease.state;
      if (!s.leader) return this.pending.clear();
      const batch = [...this.pending.values()];
      this.pending.clear();
      for (const { id, bars } of batch) {
        if (this.cfg.held?.(id) === false) continue; // stopped since (see `held`)
        for (const b of [...bars.values()].sort((x, y) => x.openTime - y.openTime)) {
          this.resent++;
          void this.send(s.token!, id, b, true, false);
        }
      }
    }, wait);
  }

  /**
   * Rewrites the tail of every series, and the whole window of a series Redis holds less of than this
   * node (a fresh cluster, or series this node loaded after it took the lead: their REST history never
   * passed through `publish`, and edges would show a few candles). Called on taking the lead and once
   * the node's configured series are all loaded. In slices, so a universe's windows are not all in flight at once.
   */
  async heal(): Promise<void> {
    this.heals++;
    try {
      await this.healOnce();
    } finally {
      this.heals--;
    }
  }

  /** Whether a heal is writing now (the node reports itself not ready meanwhile). */
  get healing(): boolean {
    return this.heals > 0;
  }

  private heals = 0;
  /**
   * Per heal running, the series it has not decided yet (tail or whole window), each with the oldest
   * bar time held back: their live bars wait for that decision, which writes them from the store (else
   * a new leader's first live bar made edges count a series written, with one bar, before the heal
   * found its window missing).
   */
  private readonly undecided = new Set<Map<string, number>>();

  /** Whether a heal holds this series' live bars back (and, if so, notes the bar's time). */
  private heldByHeal(key: string, openTime: number): boolean {
    let held = false;
    for (const u of this.undecided) {
      const oldest = u.get(key);
      if (oldest === undefined) continue;
      if (openTime < oldest) u.set(key, openTime);
      held = true;
    }
    return held;
  }

  private async healOnce(): Promise<void> {
    const s = this.cfg.lease.state;
    if (!s.leader) return;
    const ids = this.cfg.series();
    const undecided = new Map(ids.map((id) => [id.key, Infinity]));
    this.undecided.add(undecided);
    try {
      await this.healSeries(s, ids, undecided);
    } finally {
      this.undecided.delete(undecided);
    }
  }

  private async healSeries(s: Leadership, ids: readonly SeriesId[], undecided: Map<string, number>): Promise<void> {
    const n = this.cfg.healBars ?? 10;
    const full = this.cfg.windowBars ?? n;
    let stored: StoredExtent[] | undefined;
    try {
      stored = await this.cfg.writer.storedExtents(ids);
    } catch {
      // Unknown: whole windows (the version check drops what Redis has). The tails alone began a log
      // Redis lacked with 10 bars, the window following as older updates no chart shows (a review).
      stored = undefined;
    }
    let count = 0;
    let whole = 0;
    let inFlight: Array<Promise<void>> = [];
    for (let i = 0; i < ids.length; i++) {
      if (this.cfg.lease.state.token !== s.token) return; // stepped down meanwhile
      const id = ids[i]!;
      const heldFrom = undecided.get(id.key) ?? Infinity;
      undecided.delete(id.key);
      const local = this.cfg.tail(id, full);
      const extent = stored?.[i];
      const behind = local.length > 0 && (extent === undefined || extent.count < local.length);
      if (behind) {
        whole++;
        count += local.length;
        void this.writeWindow(id);
      } else {
        // The tail, every bar from the newest Redis holds on (no leader for longer than the tail left
        // a hole: a chaos run, 7–13 closed bars of a 1s series, for good), and every bar held back
        // meanwhile (a long heal may outlast the tail of a short interval).
        let from = Math.max(0, local.length - n);
        const firstHeld = local.findIndex((b) => b.openTime >= heldFrom);
        if (firstHeld >= 0) from = Math.min(from, firstHeld);
        const newest = extent?.newest;
        const firstUnstored = newest === undefined ? -1 : local.findIndex((b) => b.openTime >= newest);
        if (firstUnstored >= 0) from = Math.min(from, firstUnstored);
        for (const b of local.slice(from)) inFlight.push(this.send(s.token!, id, b));
        count += local.length - from;
      }
      if (inFlight.length >= 5000) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    this.cfg.log?.('info', `leader (term ${s.term}): healed ${ids.length} series, ${count} bars rewritten, ${whole} whole windows Redis lacked (the version check drops what Redis has)`);
  }

  stop(): void {
    this.stopped = true;
    this.windows.clear();
    this.retriedWindows.clear();
    this.settleWindows();
    this.sub.unsubscribe();
    clearTimeout(this.retrying);
    clearTimeout(this.windowRetry);
  }
}
