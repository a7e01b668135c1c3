import { TurnBudget } from '../domain/turn-budget.ts';
import { type Observable, Subscription } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import { intervalMs } from '../domain/interval.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { repairBursts } from '../pipeline/repair-bursts.ts';
import type { Logger } from '../log.ts';
import { createLogDedup } from '../log-dedup.ts';
import { anchoredFeedStart, openSeriesRuns } from './anchored-runs.ts';
import { type Params, resolveParams, type SeriesDefinition, SeriesDefinitionError, type SeriesPoint, warmupBars } from './define-series.ts';
import { PointWindow } from './point-window.ts';
import { changedSince, keptSame } from './point-changes.ts';
import { SeriesBusyError, SeriesFailedError } from './series-errors.ts';
import { seriesPointSerializer, seriesStatusMessage } from './series-wire.ts';
import type { WirePosition } from '../domain/wire.ts';
import { echo } from '../domain/echo.ts';

export { SeriesBusyError, SeriesFailedError };

export interface SeriesRequest {
  def: SeriesDefinition;
  params: Params;
  /** `name` for default parameters, `name:period=21` otherwise: the label clients see. */
  label: string;
}

export type SeriesState = 'warming' | 'live' | 'failed';

/**
 * A derived series a request names correctly that cannot be served on its interval (a warm-up longer
 * than the engine keeps, a definition pinned to another interval): refused alone, the request's
 * other series and its candles served (one such series took a whole chart away, a review).
 */
export interface SeriesRefusal {
  readonly label: string;
  readonly error: string;
  /** Set for a cap (variants, instances): asking again after this many seconds may be served. */
  readonly retryAfterSec?: number;
}

/** When a series refused at a cap is worth asking for again (s): caps free as clients leave. */
export const SERIES_CAP_RETRY_SEC = 30;

export interface SeriesInstance {
  readonly label: string;
  readonly topic: string;
  readonly window: PointWindow;
  readonly state: SeriesState;
  /** Why it failed (state `failed`). */
  readonly error?: string;
  /**
   * While it goes live again after its series repaired a hole: the oldest time whose points may have
   * changed (undefined: any, as after a failure). A cluster leader writes its log again from there.
   */
  readonly correctedFrom?: number;
}

/** What the server asks of derived series: the registry in one process, the cluster's instances on an edge. */
export type SeriesService = Pick<SeriesRegistry, 'parse' | 'request' | 'acquire' | 'range' | 'list' | 'status'>;

/** A hold on an instance: it stays alive until every lease is released (then after an idle delay). */
export interface SeriesLease {
  readonly instance: SeriesInstance;
  /** Resolves once the instance is warmed up (or has failed: see its state). */
  readonly ready: Promise<SeriesInstance>;
  /** Idempotent. */
  release(): void;
}

export interface SeriesRegistryDeps {
  bufferSize: number;
  log: Logger;
  /** The series' bars in the hot window, oldest first. */
  history(id: SeriesId): Bar[];
  /** Up to `limit` bars opening at or before `endTime`, oldest first, from the exchange (the path
   *  GET /candles takes for bars older than the store; on a cluster edge, what Redis keeps, then the
   *  leader's). Without it, only the window is used. */
  olderBars?(id: SeriesId, endTime: number, limit: number, address?: string): Promise<Bar[]>;
  /** Every bar of the series after it was written to the window. */
  bars$(id: SeriesId): Observable<Bar>;
  /**
   * The bars of a hole the series repaired late (older than its newest), after they are in the
   * window: every instance on it starts again from the window, so its values (kept, and from then on
   * live) include them. Without it, a repair is not followed.
   */
  repairs$?(id: SeriesId): Observable<Bar>;
  /** Publishes a message to a topic; the message is built only if someone listens. */
  publish(topic: string, message: () => string): void;
  /** Whether anyone listens to a topic now (optional: without it every update is computed). */
  listening?(topic: string): boolean;
  /** Changes whenever any topic gains or loses its listeners (optional): lets a feed keep its list of
   *  listened instances between changes instead of asking for every instance on every update. */
  listenersVersion?(): number;
  onError(name: string): void;
  /**
   * One bar took a series at least SLOW_BAR_MS of the event loop (warm-up, range or live; optional):
   * counted by name (`engine_series_slow_total`), the log says it too (rate-limited).
   */
  onSlow?(name: string): void;
  /** The clock slices are timed by (ms, monotonic; default performance.now). */
  now?(): number;
  /** The candle series' position, carried on each point (issue 13); optional. */
  position?(id: SeriesId): WirePosition;
  /**
   * Every point a live instance computes, corrections of older points included, unless it repeats the
   * newest (optional): ROLE=ingest writes them into the cluster for the edges.
   */
  onPoint?(instance: SeriesInstance, id: SeriesId, point: SeriesPoint): void;
  /** An instance went live (first, or again after a restart: its window may hold points computed meanwhile) or failed. Optional. */
  onState?(instance: SeriesInstance, id: SeriesId): void;
  /**
   * An instance that started without its older bars (the warm-up budget stayed spent) runs again this
   * long after (default 60 s), then after twice that and four times: values from a short start stay
   * wrong until it has them.
   */
  rewarmAfterMs?: number;
  /** First restart delay; doubles per failure up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** Failures in a row after which a series is marked failed and no longer restarted. */
  maxFailures?: number;
  /** A run healthy this long forgets its earlier failures. */
  healthyAfterMs?: number;
  /** An instance nobody holds is released after this long. */
  idleMs?: number;
  /** Parameter variants (other than the defaults) alive at once per definition, symbol and interval. */
  maxVariants?: number;
  /** Instances alive at once in all. */
  maxInstances?: number;
  /** Most bars fed per slice while warming up or computing a range (a slice also ends once its turn's time is spent). */
  sliceBars?: number;
  /** Range computations at once, and waiting. */
  maxRangeJobs?: number;
  maxRangeQueue?: number;
  /** Range requests one client address may have running or queued at once (default 4): one cannot take every place. */
  maxRangePerAddress?: number;
}

/** Derived series one request may ask for (`series=a,b,…`). */
export const MAX_SERIES_PER_REQUEST = 16;
/** Longest series label (`name:key=value;…`), as the cluster's instance keys allow. */
const MAX_LABEL = 300;
/** Most bars fetched from the exchange for one warm-up or range (2 × the largest warm-up, and a range). */
const MAX_OLDER_BARS = 20_000;
/**
 * How long a live instance's first warm-up refused by the warm-up budget waits for it, in all, before
 * it starts on the window alone (the wait alone stays within the 60 s an edge waits for the leader's
 * answer). A restart (after a repair or a failure) waits less: its clients see no new point meanwhile,
 * and its older pages are mostly in the history cache, which costs no budget.
 */
const WARM_UP_MAX_WAIT_MS = 45_000;
const RESTART_MAX_WAIT_MS = 5_000;
const PAGE = 1000;

/** `partial`: the window's bars alone, older ones could not be had. */
type OlderBars = { bars: Bar[]; inputFrom: number | undefined; partial?: boolean };
/** Runs again of an instance that started without its older bars (see `rewarmAfterMs`). */
const MAX_REWARMS = 3;

/**
 * Time the slices of all warm-ups and range computations together may take in one turn of the event
 * loop (ms). Each slice used to be a setImmediate of its own, and Node runs every one queued in one
 * go: 15 instances warming up at once (one client's `series=`) held the loop ~70 ms.
 */
const SLICE_TURN_MS = 4;
/**
 * A bar that takes an operator this long (ms) is slow: the event loop was held that long (a
 * 2 s-per-bar operator held it 12-22 s in warm-ups of 500-bar slices, and nothing named the series).
 */
const SLOW_BAR_MS = 100;

/**
 * Runs derived series: one computation per (definition, parameters, symbol, interval) while someone
 * holds it (WebSocket clients hold theirs for their lifetime), released after an idle delay.
 * Values are anchored (see `AnchoredRuns`): a value never depends on when the series was started.
 * An instance warms up off the request path, in slices that yield to the event loop, over older bars
 * from the exchange and the stored window; then it is fed every bar and publishes each point once
 * to its topic. A series that throws is logged (once per kind, with a count), counted and restarted
 * with growing delays; after `maxFailures` in a row it is marked failed and its clients told so.
 * Parameter variants are capped per series; idle ones are evicted first.
 */
export class SeriesRegistry {
  private readonly defs = new Map<string, SeriesDefinition>();
  private readonly instances = new Map<string, LiveInstance>();
  private readonly feeds = new Map<string, Feed>();
  /** Per series with instances: its repaired holes (one restart of its instances per burst). */
  private readonly repairSubs = new Map<string, Subscription>();
  private readonly dedup;
  private rangeJobs = 0;
  /** Warm-ups waiting for the warm-up budget (see `pause`). */
  private readonly pauses = new Set<() => void>();
  /** Range requests running or queued, per client address. */
  private readonly rangesOf = new Map<string, number>();
  private readonly rangeQueue: Array<() => void> = [];
  private stopped = false;
  /** Every warm-up's and range's slices, in turns of about SLICE_TURN_MS. */
  private readonly sliceTurns: TurnBudget;
  /** @internal The clock bars are timed by. */
  readonly now: () => number;

  constructor(
    defs: readonly SeriesDefinition[],
    private readonly deps: SeriesRegistryDeps,
  ) {
    for (const d of defs) this.defs.set(d.name, d);
    this.dedup = createLogDedup(deps.log);
    this.now = deps.now ?? (() => performance.now());
    this.sliceTurns = new TurnBudget(SLICE_TURN_MS, this.now);
  }

  /** Definitions, with the instances alive now and their state. */
  list() {
    return [...this.defs.values()].map((d) => ({
      name: d.name,
      description: d.description ?? '',
      pane: d.pane,
      interval: d.interval ?? null,
      plot: d.plot ?? null,
      params: d.params,
      ranges: d.ranges ?? {},
      instances: [...this.instances.values()]
        .filter((i) => i.req.def === d)
        .map((i) => ({ name: i.label, symbol: i.id.symbol, interval: i.id.interval, state: i.state, clients: i.refs, ...(i.error ? { error: i.error } : {}) })),
    }));
  }

  get size(): number {
    return this.defs.size;
  }

  /** Instances alive now (for tests and metrics). */
  get instanceCount(): number {
    return this.instances.size;
  }

  /**
   * Parses `ema-cross,rsi:period=21;source=open` into requests; an error names the bad part and the
   * valid names. A malformed request (an unknown series, a bad parameter, too many series, one twice)
   * is refused whole; a series well named that this interval cannot serve is in `refused` (see
   * SeriesRefusal), the others in `value`.
   */
  parse(spec: string | undefined, interval: string): { ok: true; value: SeriesRequest[]; refused: SeriesRefusal[] } | { ok: false; error: string } {
    if (!spec) return { ok: true, value: [], refused: [] };
    const out: SeriesRequest[] = [];
    const refused: SeriesRefusal[] = [];
    const parts = spec.split(',').filter(Boolean);
    // Refused, not truncated: a client that asked for 20 must not silently get 16.
    if (parts.length > MAX_SERIES_PER_REQUEST) return { ok: false, error: `at most ${MAX_SERIES_PER_REQUEST} series per request (asked for ${parts.length})` };
    for (const part of parts) {
      const [name = '', ...kvs] = part.split(':');
      // No prototype: `__proto__=1` must arrive as a key (and be refused), not set one.
      const overrides = Object.create(null) as Record<string, string>;
      for (const kv of kvs.flatMap((s) => s.split(';'))) {
        const eq = kv.indexOf('=');
        // An empty piece (`rsi:`, a trailing `;`) says nothing; a value with no name (`rsi:=5`) is refused.
        if (!kv) continue;
        const k = eq < 0 ? kv : kv.slice(0, eq);
        if (!k) return { ok: false, error: `series '${echo(name, 40)}': a parameter has no name ('${echo(kv, 40)}')` };
        // Refused, not the last one silently winning (as a repeated query parameter is refused).
        if (k in overrides) return { ok: false, error: `series '${echo(name, 40)}': parameter '${echo(k, 40)}' given more than once` };
        overrides[k] = eq < 0 ? '' : kv.slice(eq + 1);
      }
      const one = this.request(name, overrides, interval);
      if (!one.ok && one.label === undefined) return { ok: false, error: one.error };
      const label = one.ok ? one.value.label : one.label!;
      // Refused: each repeat was serialized into the first message again (16 × rsi: 847 KB instead of
      // 132 KB) and counted as a new instance against the address's ration.
      if (out.some((r) => r.label === label) || refused.some((r) => r.label === label)) return { ok: false, error: `series '${echo(label, 80)}' asked for more than once` };
      if (one.ok) out.push(one.value);
      else refused.push({ label, error: one.error });
    }
    return { ok: true, value: out, refused };
  }

  /**
   * One request: a series by name with parameter overrides (e.g. from a query string). An error with
   * a `label` is the series' own on this interval (its warm-up, its pinned interval), not the
   * request's: `parse` refuses that series alone.
   */
  request(name: string, overrides: Record<string, string>, interval: string): { ok: true; value: SeriesRequest } | { ok: false; error: string; label?: string } {
    const def = this.defs.get(name);
    if (!def) return { ok: false, error: `unknown series '${echo(name, 40)}'; available series: ${[...this.defs.keys()].join(', ') || 'none'}` };
    let params: Params;
    let label: string;
    try {
      params = resolveParams(def, overrides);
      label = labelOf(def, params);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
    // The cluster's bound on a label (a Redis key there), enforced in every role alike.
    if (label.length > MAX_LABEL) return { ok: false, error: `series '${name}': its parameters make a label longer than ${MAX_LABEL} characters` };
    if (def.interval && def.interval !== interval) return { ok: false, error: `series '${name}' is computed on ${def.interval} bars only`, label };
    try {
      warmupBars(def, params, interval);
    } catch (e) {
      return { ok: false, error: (e as Error).message, label };
    }
    return { ok: true, value: { def, params, label } };
  }

  /** The state of an instance if one is alive (the label as `parse` gives it). */
  status(label: string, id: SeriesId): { state: SeriesState; error?: string } | undefined {
    const inst = this.instances.get(`${label}|${id.key}`);
    return inst && { state: inst.state, ...(inst.error ? { error: inst.error } : {}) };
  }

  /**
   * Holds the instance for a request on a series, creating (and warming up) it on first use.
   * Throws SeriesBusyError when the variants of this series (or all instances) are at their cap and
   * none is idle to make room. `address`: the client asking; a new instance's first warm-up counts
   * against its history budget (one shared budget let one address's new instances hold everyone's back).
   */
  acquire(req: SeriesRequest, id: SeriesId, address?: string): SeriesLease {
    if (this.stopped) throw new SeriesBusyError('the engine is stopping');
    const key = `${req.label}|${id.key}`;
    let inst = this.instances.get(key);
    if (!inst) {
      this.makeRoom(req, id);
      inst = new LiveInstance(this, req, id, key, address);
      this.instances.set(key, inst);
      this.followRepairs(id);
      inst.start();
    }
    inst.hold();
    let released = false;
    const held = inst;
    return {
      instance: held,
      ready: held.ready,
      release: () => {
        if (released) return;
        released = true;
        held.unhold();
      },
    };
  }

  /**
   * Points of a series for the bars of a range: the newest `limit` bars opening at or before
   * `endTime` (the newest bars without it), computed with the anchored warm-up before them from the
   * window and the exchange, in slices off the event loop. Nothing is kept. Bounded: a few at a time,
   * a short queue, a few per client address, then SeriesBusyError. Candles or warm-up that cannot be had reject with
   * SeriesBusyError (the exchange refused or failed: try again), never with fewer points. A series
   * that throws rejects with SeriesFailedError.
   */
  async range(req: SeriesRequest, id: SeriesId, endTime: number | undefined, limit: number, address?: string): Promise<SeriesPoint[]> {
    const failed = this.instances.get(`${req.label}|${id.key}`);
    if (failed?.state === 'failed') throw new SeriesFailedError(failed.error ?? 'failed');
    // No address (the CLI, a spec): nothing to share out.
    if (address === undefined) return this.rangeIn(req, id, endTime, limit, address);
    const mine = this.rangesOf.get(address) ?? 0;
    if (mine >= (this.deps.maxRangePerAddress ?? 4)) throw new SeriesBusyError('too many derived series requests from this address at once; try again shortly');
    this.rangesOf.set(address, mine + 1);
    try {
      return await this.rangeIn(req, id, endTime, limit, address);
    } finally {
      const left = this.rangesOf.get(address)! - 1;
      if (left > 0) this.rangesOf.set(address, left);
      else this.rangesOf.delete(address);
    }
  }

  private async rangeIn(req: SeriesRequest, id: SeriesId, endTime: number | undefined, limit: number, address?: string): Promise<SeriesPoint[]> {
    await this.rangeSlot();
    try {
      const blockMs = blockMsOf(req, id);
      let bars: Bar[];
      try {
        bars = await this.barsUpTo(id, endTime, limit, address);
      } catch (e) {
        // The candles themselves could not be had: not the series' fault.
        throw candlesError(e);
      }
      if (bars.length === 0) return [];
      const from = bars[0]!.openTime;
      const to = bars[bars.length - 1]!.openTime;
      const start = anchoredFeedStart(from, blockMs);
      // Strict: without its whole warm-up a range would silently lose its first blocks' points.
      const warm = await this.olderThan(id, from, start, address);
      const points = new Map<number, SeriesPoint>();
      const run = this.openRun(req, blockMs, warm.inputFrom, id.interval, (p) => {
        if (p.time >= from && p.time <= to) points.set(p.time, p);
      });
      try {
        await this.pushSlices(run, [...warm.bars, ...bars], { series: req.def.name, label: req.label, key: id.key });
      } finally {
        run.subscription.unsubscribe();
      }
      return [...points.values()].sort((a, b) => a.time - b.time);
    } catch (e) {
      if (e instanceof SeriesBusyError) throw e;
      this.deps.onError(req.def.name);
      this.dedup.warn(rangeFailureKey(req.def.name, e), 'derived series failed on a range request', { series: req.label, key: id.key, err: e as Error });
      throw new SeriesFailedError((e as Error).message, { cause: e });
    } finally {
      this.releaseRangeSlot();
    }
  }

  /**
   * Ends every instance computed on a series no longer served (an on-demand series released): their
   * runs and feed stop, their windows are dropped; a client asking again later gets a fresh warm-up.
   */
  releaseSeries(id: SeriesId): void {
    for (const inst of [...this.instances.values()]) if (inst.id.key === id.key) inst.dispose();
    const feed = this.feeds.get(id.key);
    feed?.subscription.unsubscribe();
    this.feeds.delete(id.key);
  }

  stop(): void {
    this.stopped = true;
    for (const inst of [...this.instances.values()]) inst.dispose();
    this.instances.clear();
    for (const f of this.feeds.values()) f.subscription.unsubscribe();
    this.feeds.clear();
    for (const r of this.repairSubs.values()) r.unsubscribe();
    this.repairSubs.clear();
    for (const wake of this.rangeQueue.splice(0)) wake();
    for (const done of [...this.pauses]) done();
    this.dedup.flush();
  }

  // --- internals shared with LiveInstance --------------------------------------------------------

  /** @internal */
  get registryDeps(): SeriesRegistryDeps {
    return this.deps;
  }

  /** @internal */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** @internal */
  logFailure(inst: LiveInstance, err: unknown, attempt: number, gaveUp: boolean): void {
    this.deps.onError(inst.req.def.name);
    const msg = gaveUp ? 'derived series failed too often; marked failed' : 'derived series failed; restarting';
    this.dedup.warn(`live:${inst.key}:${gaveUp}`, msg, { series: inst.label, key: inst.id.key, attempt, err: err as Error });
  }

  /** @internal */
  forget(inst: LiveInstance): void {
    if (this.instances.get(inst.key) === inst) this.instances.delete(inst.key);
    if ([...this.instances.values()].some((i) => i.id.key === inst.id.key)) return;
    this.repairSubs.get(inst.id.key)?.unsubscribe();
    this.repairSubs.delete(inst.id.key);
  }

  /**
   * Follows the holes a series repairs late for as long as an instance on it exists (warming and
   * restarting ones too: they read the window before the repair): a burst of repaired bars makes one
   * restart of each instance, from the window that now holds them.
   */
  private followRepairs(id: SeriesId): void {
    if (this.repairSubs.has(id.key) || !this.deps.repairs$) return;
    const sub = this.deps.repairs$(id).pipe(repairBursts()).subscribe((from) => {
      for (const inst of [...this.instances.values()]) if (inst.id.key === id.key) inst.repaired(from);
    });
    this.repairSubs.set(id.key, sub);
  }

  /** @internal Feeds every bar of the series to `target` from now on (one subscription per series). */
  attach(id: SeriesId, target: FeedTarget): void {
    let feed = this.feeds.get(id.key);
    if (!feed) {
      const { listening, listenersVersion } = this.deps;
      // The targets someone listens to, as of `version` (NaN: never computed).
      let heard: FeedTarget[] = [];
      let version = Number.NaN;
      let changes = -1;
      const f: Feed = { subscription: undefined as unknown as Subscription, targets: [], version: 0 };
      f.subscription = this.deps.bars$(id).subscribe((bar) => {
        // While nobody listens to an instance, a forming bar's preview would be computed for no one:
        // only closed bars go in (closed values never depend on previews).
        if (bar.closed || !listening) {
          for (const t of f.targets) t.next(bar);
          return;
        }
        const v = listenersVersion ? listenersVersion() : Number.NaN;
        if (v !== version || f.version !== changes || Number.isNaN(v)) {
          heard = f.targets.filter((t) => listening(t.topic));
          version = v;
          changes = f.version;
        }
        for (const t of heard) t.next(bar);
      });
      feed = f;
      this.feeds.set(id.key, feed);
    }
    // Copy on write: a target that fails (and detaches) while the feed loops over the list must not
    // make the loop skip the next one.
    feed.targets = [...feed.targets, target];
    feed.version++;
  }

  /** @internal */
  detach(id: SeriesId, target: FeedTarget): void {
    const feed = this.feeds.get(id.key);
    if (!feed) return;
    if (!feed.targets.includes(target)) return;
    feed.targets = feed.targets.filter((t) => t !== target);
    feed.version++;
    if (feed.targets.length === 0) {
      feed.subscription.unsubscribe();
      this.feeds.delete(id.key);
    }
  }

  /** A fresh anchored run of the request's operator; its error is kept for `failure()`. @internal */
  openRun(req: SeriesRequest, blockMs: number, inputFrom: number | undefined, interval: string, onPoint: (p: SeriesPoint) => void): Run {
    let failure: unknown;
    const onError = (e: unknown) => (failure = e ?? new Error('derived series failed'));
    const runs = openSeriesRuns(() => req.def.operator(req.params), blockMs, inputFrom, interval, onPoint, onError);
    return { input: runs, subscription: new Subscription(() => runs.stop()), failure: () => failure };
  }

  /**
   * Pushes `bars[from…]` into a run in slices, in the turns every run's slices share (see
   * SLICE_TURN_MS): a slice ends when its turn's time is spent (the clock is read after each bar) or
   * after `sliceBars`, so a slow operator holds the event loop one bar at a time, not a slice of 500
   * (a 2 s-per-bar operator held it 12-22 s). Throws the run's error. @internal
   */
  async pushSlices(run: Run, bars: readonly Bar[], owner: SliceOwner, alive = () => !this.stopped, from = 0): Promise<void> {
    const slice = this.deps.sliceBars ?? 500;
    let i = from;
    while (i < bars.length) {
      const at = i;
      const reached = await this.inTurn(() => (alive() ? this.pushTimed(run, bars, at, Math.min(bars.length, at + slice), () => this.sliceTurns.left() <= 0, owner) : -1));
      if (reached < 0) return;
      i = reached;
    }
  }

  /**
   * Feeds `bars[from, to)` into a run until `spent()` (at least one bar), timing each bar (a slow one
   * is reported: `slowBar`); returns the index reached, throws the run's error. @internal
   */
  pushTimed(run: Run, bars: readonly Bar[], from: number, to: number, spent: () => boolean, owner: SliceOwner): number {
    let j = from;
    while (j < to) {
      const t0 = this.now();
      run.input.next(bars[j++]!);
      const ms = this.now() - t0;
      if (ms >= SLOW_BAR_MS) this.slowBar(owner, ms);
      const f = run.failure();
      if (f !== undefined) throw f;
      if (spent()) break;
    }
    return j;
  }

  /** A bar took a series SLOW_BAR_MS or more: counted by name, logged once per series per period. @internal */
  slowBar(owner: SliceOwner, ms: number): void {
    this.deps.onSlow?.(owner.series);
    this.dedup.warn(`slow:${owner.series}`, `derived series '${owner.series}' is slow: one bar held the event loop ${Math.round(ms)} ms`, { series: owner.label, key: owner.key, ms: Math.round(ms) });
  }

  /** `work` run in one of the turns slices share (its synchronous part counts in the turn's budget). */
  private inTurn<T>(work: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.sliceTurns.run(() => {
        try {
          resolve(work());
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  /** @internal */
  get sliceBars(): number {
    return this.deps.sliceBars ?? 500;
  }

  /** @internal */
  needsOlder(id: SeriesId, before: number, start: number): boolean {
    return start < before && this.deps.olderBars !== undefined && (this.deps.history(id)[0]?.openTime ?? before) > start;
  }

  /**
   * The bars before `before` from `start` on (warm-up), from the window and then the exchange, and
   * from when the input is whole: for a range, a failed fetch rejects (SeriesBusyError, see `range`).
   * @internal
   */
  async olderThan(id: SeriesId, before: number, start: number, address?: string): Promise<OlderBars> {
    try {
      return await this.older(id, before, start, address);
    } catch (e) {
      throw candlesError(e);
    }
  }

  /**
   * A live instance's warm-up. Refused by the budget warm-ups share (the exchange's weight is one for
   * all, and a client may spend it on long warm-ups), it waits the time the refusal gives and asks
   * again, for up to WARM_UP_MAX_WAIT_MS, rather than start on part of its bars: an instance is shared
   * by every client, and values computed on a short window stay wrong (fewer, and unanchored) until
   * it is released.
   */
  async olderForWarmUp(id: SeriesId, before: number, start: number, alive: () => boolean, restart: boolean, address?: string): Promise<OlderBars> {
    const until = Date.now() + (restart ? RESTART_MAX_WAIT_MS : WARM_UP_MAX_WAIT_MS);
    for (;;) {
      try {
        // In the shared turns: warm-ups refused together wake together, each copying its window.
        return await this.inTurn(() => this.older(id, before, start, address));
      } catch (e) {
        // Gone meanwhile (disposed, or the engine stops): its caller drops the result.
        if (!alive()) return { bars: [], inputFrom: undefined };
        const retryS = e instanceof HistoryRefusedError ? e.info.retryAfterSec : undefined;
        if (retryS === undefined || Date.now() + retryS * 1000 > until) return this.partial(id, before, start, e);
        // One line for all (a flood starts hundreds of series; a line each made the log grow with them).
        this.dedup.warn('older-wait', 'derived series warm-ups wait for the exchange budget', { key: id.key, retryAfterSec: retryS, waiting: this.pauses.size + 1 });
        await this.pause(Math.max(1, retryS) * 1000);
        if (!alive()) return { bars: [], inputFrom: undefined };
      }
    }
  }

  /** A wait that `stop` ends at once (its timer released). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pauses.add(done);
    });
  }

  private async older(id: SeriesId, before: number, start: number, address?: string): Promise<OlderBars> {
    if (start >= before) return { bars: [], inputFrom: start };
    const window = this.windowBars(id, start, before);
    const firstInWindow = window[0]?.openTime ?? before;
    if (firstInWindow <= start || !this.deps.olderBars) return { bars: window, inputFrom: firstInWindow <= start ? start : window[0]?.openTime };
    const wanted = Math.min(MAX_OLDER_BARS, Math.ceil((firstInWindow - start) / intervalMs(id.interval)));
    const older = await this.fetchOlder(id, firstInWindow - 1, wanted, start, address);
    return { bars: [...older, ...window], inputFrom: start };
  }

  /** The window's bars alone, when older ones could not be had: values start later. */
  private partial(id: SeriesId, before: number, start: number, e: unknown): OlderBars {
    // One line for all, as 'older-wait': keyed by series, a flood over 1,500 symbols logged ~4 lines an instance.
    this.dedup.warn('older-partial', 'older bars for a derived series warm-up could not be fetched; values start later', { key: id.key, err: e as Error });
    const window = this.windowBars(id, start, before);
    return { bars: window, inputFrom: window[0]?.openTime, partial: true };
  }

  /** The window's bars in [start, before). */
  private windowBars(id: SeriesId, start: number, before: number): Bar[] {
    return this.deps.history(id).filter((b) => b.openTime >= start && b.openTime < before);
  }

  private async fetchOlder(id: SeriesId, endTime: number, wanted: number, start: number, address?: string): Promise<Bar[]> {
    const pages: Bar[][] = [];
    let end = endTime;
    let left = wanted;
    while (left > 0 && !this.stopped) {
      const page = (await this.deps.olderBars!(id, end, Math.min(PAGE, left), address)).filter((b) => b.openTime <= end && b.openTime >= start && b.closed);
      if (page.length === 0) break;
      pages.unshift(page);
      left -= page.length;
      end = page[0]!.openTime - 1;
      if (end < start) break;
    }
    return pages.flat();
  }

  /** The newest `limit` bars opening at or before `endTime` (the newest without it), oldest first. */
  private async barsUpTo(id: SeriesId, endTime: number | undefined, limit: number, address?: string): Promise<Bar[]> {
    const window = this.deps.history(id);
    const inWindow = endTime === undefined ? window : window.filter((b) => b.openTime <= endTime);
    const bars = inWindow.slice(Math.max(0, inWindow.length - limit));
    if (bars.length >= limit || !this.deps.olderBars) return bars;
    // Deeper than the window: the exchange's bars before it (as GET /candles serves them).
    const before = bars.length ? bars[0]!.openTime - 1 : (endTime ?? Number.MAX_SAFE_INTEGER);
    const older = await this.fetchOlder(id, before, limit - bars.length, Number.NEGATIVE_INFINITY, address);
    return [...older, ...bars];
  }

  private async rangeSlot(): Promise<void> {
    const { maxRangeJobs = 4, maxRangeQueue = 32 } = this.deps;
    if (this.rangeJobs < maxRangeJobs) {
      this.rangeJobs++;
      return;
    }
    if (this.rangeQueue.length >= maxRangeQueue) throw new SeriesBusyError('too many derived series requests in progress; try again shortly');
    await new Promise<void>((r) => this.rangeQueue.push(r));
    if (this.stopped) throw new SeriesBusyError('the engine is stopping');
    this.rangeJobs++;
  }

  private releaseRangeSlot(): void {
    this.rangeJobs--;
    this.rangeQueue.shift()?.();
  }

  /** Makes room for a new instance of `req`: evicts the longest-idle one at a cap, or refuses. */
  private makeRoom(req: SeriesRequest, id: SeriesId): void {
    const { maxVariants = 16, maxInstances = 2000 } = this.deps;
    const isDefault = req.label === req.def.name;
    if (!isDefault) {
      const variants = [...this.instances.values()].filter((i) => i.req.def === req.def && i.id.key === id.key && i.label !== req.def.name);
      if (variants.length >= maxVariants && !this.evictIdle(variants)) {
        throw new SeriesBusyError(`too many parameter variants of '${req.def.name}' on ${id.symbol} ${id.interval} in use (max ${maxVariants}); try again later or use its defaults`);
      }
    }
    if (this.instances.size >= maxInstances && !this.evictIdle([...this.instances.values()])) {
      throw new SeriesBusyError(`too many derived series in use (MAX_SERIES_INSTANCES=${maxInstances}); try again later`);
    }
  }

  private evictIdle(candidates: LiveInstance[]): boolean {
    let oldest: LiveInstance | undefined;
    for (const c of candidates) if (c.refs === 0 && (!oldest || c.idleSince < oldest.idleSince)) oldest = c;
    oldest?.dispose();
    return oldest !== undefined;
  }
}

/** An anchored run of an operator, fed through `input`. */
interface Run {
  readonly input: RunInput;
  readonly subscription: Subscription;
  failure(): unknown;
}

interface RunInput {
  next(bar: Bar): void;
}

/** Feeds `bars[from, to)` into a run, stopping at (and throwing) its first error. */
function pushAll(run: Run, bars: readonly Bar[], from = 0, to = bars.length): void {
  for (let j = from; j < to && run.failure() === undefined; j++) run.input.next(bars[j]!);
  const f = run.failure();
  if (f !== undefined) throw f;
}

/** Whose bars a slice feeds (for the slow-series log and count). */
interface SliceOwner {
  /** The definition's name (the metric's label). */
  series: string;
  label: string;
  key: string;
}

/** One instance's entry in its series' feed. */
interface FeedTarget {
  readonly topic: string;
  next(bar: Bar): void;
}

/** One subscription to a series' bars, feeding every instance on it. */
interface Feed {
  subscription: Subscription;
  targets: FeedTarget[];
  /** Bumped on every attach or detach. */
  version: number;
}

/** Candles a range needs that could not be had: the exchange (or the cluster's leader) refused or failed: try again. */
function candlesError(e: unknown): Error {
  return new SeriesBusyError(`could not load the candles: ${(e as Error).message}`, { cause: e });
}

function blockMsOf(req: SeriesRequest, id: SeriesId): number {
  return warmupBars(req.def, req.params, id.interval) * intervalMs(id.interval);
}

/** A running instance: warm-up, live feed, restarts, its holders and idle release. */
class LiveInstance implements SeriesInstance {
  readonly label: string;
  readonly topic: string;
  readonly window: PointWindow;
  state: SeriesState = 'warming';
  error?: string;
  refs = 0;
  idleSince = 0;
  readonly ready: Promise<SeriesInstance>;
  private resolveReady!: (i: SeriesInstance) => void;
  private readonly blockMs: number;
  private readonly message: (p: SeriesPoint) => string;
  private run?: { input: RunInput; subscription: Subscription; target: FeedTarget };
  private generation = 0;
  private failures = 0;
  private startedAt = 0;
  private restartTimer?: NodeJS.Timeout;
  private rewarmTimer?: NodeJS.Timeout;
  private rewarms = 0;
  private idleTimer?: NodeJS.Timeout;
  private disposed = false;
  correctedFrom?: number;
  /** A repair came while it was not live (from this time on): it runs again once it is. */
  private pendingFrom?: number;
  /**
   * Its points when a repair or a failure stopped its run: once live again, every point that differs
   * from these (a corrected value, one in the repaired hole, one of a bar that closed meanwhile) goes
   * out, so an open chart is corrected without a reload.
   */
  private sentBefore?: Map<number, SeriesPoint>;

  constructor(
    private readonly registry: SeriesRegistry,
    readonly req: SeriesRequest,
    readonly id: SeriesId,
    readonly key: string,
    /** The client that started it: its first warm-up counts against that address (restarts: the shared budget). */
    private readonly startedBy?: string,
  ) {
    this.label = req.label;
    this.topic = `series/${req.label}/${id.symbol}/${id.interval}`;
    this.window = new PointWindow(registry.registryDeps.bufferSize);
    this.blockMs = blockMsOf(req, id);
    const position = registry.registryDeps.position;
    this.message = seriesPointSerializer(this.label, id.symbol, id.interval, position && (() => position(id)));
    this.ready = new Promise((r) => (this.resolveReady = r));
  }

  hold(): void {
    this.refs++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  unhold(): void {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs > 0 || this.disposed) return;
    this.idleSince = Date.now();
    this.idleTimer = setTimeout(() => {
      if (this.refs === 0) this.dispose();
    }, this.registry.registryDeps.idleMs ?? 60_000);
    this.idleTimer.unref?.();
  }

  /** Starts (or restarts) the run: warm-up in slices, then live. Failures go to `fail`. */
  start(): void {
    const generation = ++this.generation;
    this.startedAt = Date.now();
    const alive = () => !this.disposed && generation === this.generation && !this.registry.isStopped;
    const failed = (e: unknown) => {
      if (alive()) this.fail(e);
    };
    const history = this.registry.registryDeps.history(this.id);
    const needFrom = history[0]?.openTime;
    const start = needFrom === undefined ? undefined : anchoredFeedStart(needFrom, this.blockMs);
    // Little history and nothing older to fetch: warmed up at once, live when `acquire` returns, if
    // the operator takes less than a turn's time over it; the rest in slices, as a warm-up.
    if (needFrom === undefined || (!this.registry.needsOlder(this.id, needFrom, start!) && history.length <= this.registry.sliceBars)) {
      let run: Run | undefined;
      let reached: number;
      try {
        run = this.openRun(needFrom === undefined ? undefined : history[0]!.openTime <= start! ? start : needFrom);
        const until = this.registry.now() + SLICE_TURN_MS;
        reached = history.length ? this.registry.pushTimed(run, history, 0, history.length, () => this.registry.now() >= until, this.owner) : 0;
        if (reached === history.length) return this.goLive(run, history);
      } catch (e) {
        run?.subscription.unsubscribe();
        return failed(e);
      }
      void this.feedThenLive(run, history, history, reached, alive, false).catch(failed);
      return;
    }
    void this.warm(history, needFrom, start!, alive).catch(failed);
  }

  /** Whose bars its slices feed. */
  private get owner(): SliceOwner {
    return { series: this.req.def.name, label: this.label, key: this.id.key };
  }

  private openRun(inputFrom: number | undefined): Run {
    return this.registry.openRun(this.req, this.blockMs, inputFrom, this.id.interval, (p) => this.point(p));
  }

  private async warm(history: Bar[], needFrom: number, start: number, alive: () => boolean): Promise<void> {
    // Generation 1 is its first run; every stop (a repair, a failure) moves it on.
    const restart = this.generation > 1;
    const older = await this.registry.olderForWarmUp(this.id, needFrom, start, alive, restart, restart ? undefined : this.startedBy);
    if (!alive()) return;
    await this.feedThenLive(this.openRun(older.inputFrom), [...older.bars, ...history], history, 0, alive, older.partial === true);
  }

  /** Feeds `bars[from…]` in slices, then goes live on `history` (the window's part of them). */
  private async feedThenLive(run: Run, bars: Bar[], history: Bar[], from: number, alive: () => boolean, partial: boolean): Promise<void> {
    try {
      await this.registry.pushSlices(run, bars, this.owner, alive, from);
      if (alive()) {
        this.goLive(run, history);
        if (partial) this.rewarmLater();
      }
    } finally {
      if (!alive() || this.run?.input !== run.input) run.subscription.unsubscribe();
    }
  }

  /** Catches up with bars written since `history` was read, and joins the live feed in the same turn. */
  private goLive(run: Run, history: Bar[]): void {
    const deps = this.registry.registryDeps;
    const lastFed = history[history.length - 1]?.openTime ?? Number.NEGATIVE_INFINITY;
    pushAll(run, deps.history(this.id).filter((b) => b.openTime >= lastFed));
    // Same turn as the catch-up: no bar can fall between the window and the feed. A live run's
    // error surfaces in the operator's error channel while a bar is fed.
    const registry = this.registry;
    const owner = this.owner;
    const target: FeedTarget = {
      topic: this.topic,
      next: (bar) => {
        const t0 = registry.now();
        run.input.next(bar);
        const ms = registry.now() - t0;
        if (ms >= SLOW_BAR_MS) registry.slowBar(owner, ms);
        const f = run.failure();
        if (f !== undefined && this.run?.target === target) this.fail(f);
      },
    };
    run.subscription.add(() => this.registry.detach(this.id, target));
    this.run = { input: run.input, subscription: run.subscription, target };
    this.registry.attach(this.id, target);
    const recovered = this.state === 'failed';
    this.state = 'live';
    this.error = undefined;
    if (recovered) deps.publish(this.topic, () => seriesStatusMessage(this.label, this.id, 'live'));
    if (this.sentBefore) {
      for (const p of changedSince(this.sentBefore, this.window)) deps.publish(this.topic, () => this.message(p));
      this.sentBefore = undefined;
    }
    this.resolveReady(this);
    deps.onState?.(this, this.id);
    this.correctedFrom = undefined;
    const pending = this.pendingFrom;
    this.pendingFrom = undefined;
    if (pending !== undefined) this.repaired(pending);
  }

  private point(p: SeriesPoint): void {
    const live = this.state === 'live' && this.run !== undefined;
    const same = keptSame(this.window, p);
    // An older point (a correction) goes out too: clients upsert by time.
    const kept = this.window.upsert(p) !== 'older' || this.window.at(p.time) === p;
    if (kept && live && !same) this.registry.registryDeps.publish(this.topic, () => this.message(p));
    if (live && !same) this.registry.registryDeps.onPoint?.(this, this.id, p);
    if (this.failures > 0 && Date.now() - this.startedAt > (this.registry.registryDeps.healthyAfterMs ?? 600_000)) this.failures = 0;
  }

  /**
   * Its series repaired a hole from `from` on: computes again from the window, as at start, so its
   * values include the repaired bars. Once it is live again the points that changed go out (see
   * `sentBefore`), the live ones follow. One not live yet (warming, failed) runs again once it is.
   */
  repaired(from: number): void {
    if (this.disposed || this.registry.isStopped) return;
    if (this.state !== 'live' || !this.run) {
      this.pendingFrom = Math.min(this.pendingFrom ?? Number.POSITIVE_INFINITY, from);
      return;
    }
    this.correctedFrom = Math.min(this.correctedFrom ?? Number.POSITIVE_INFINITY, from);
    this.sentBefore ??= this.pointsHeld();
    this.stopRun();
    this.start();
  }

  private fail(err: unknown): void {
    // What clients hold now: once it runs again, the points of bars that came meanwhile go out.
    this.sentBefore ??= this.pointsHeld();
    this.stopRun();
    this.failures++;
    const deps = this.registry.registryDeps;
    const gaveUp = this.failures >= (deps.maxFailures ?? 5);
    this.registry.logFailure(this, err, this.failures, gaveUp);
    // Failed until a restart runs again: clients are told (once per error), GET answers 503.
    const error = (err instanceof Error ? err.message : String(err)).slice(0, 300);
    if (this.state !== 'failed' || this.error !== error) {
      this.state = 'failed';
      this.error = error;
      deps.publish(this.topic, () => seriesStatusMessage(this.label, this.id, 'failed', error));
      deps.onState?.(this, this.id);
    }
    this.resolveReady(this);
    if (gaveUp) {
      // It will not run again: nothing to compare its points with.
      this.sentBefore = undefined;
      return;
    }
    const base = deps.restartDelayMs ?? 1000;
    const delay = Math.min(deps.maxRestartDelayMs ?? 60_000, base * 2 ** (this.failures - 1));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.disposed && !this.registry.isStopped) this.start();
    }, delay);
    this.restartTimer.unref?.();
  }

  private pointsHeld(): Map<number, SeriesPoint> {
    return new Map(this.window.last(this.window.size).map((p) => [p.time, p]));
  }

  private stopRun(): void {
    this.generation++;
    const run = this.run;
    this.run = undefined;
    run?.subscription.unsubscribe();
  }

  /** Started without its older bars: runs again later, as after a repair from its first point (a few times at most). */
  private rewarmLater(): void {
    if (this.rewarms >= MAX_REWARMS || this.rewarmTimer) return;
    const delay = (this.registry.registryDeps.rewarmAfterMs ?? 60_000) * 2 ** this.rewarms++;
    this.rewarmTimer = setTimeout(() => {
      this.rewarmTimer = undefined;
      this.repaired(Number.NEGATIVE_INFINITY);
    }, delay);
    this.rewarmTimer.unref?.();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopRun();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.rewarmTimer) clearTimeout(this.rewarmTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.registry.forget(this);
    this.resolveReady(this);
  }
}

function labelOf(def: SeriesDefinition, params: Params): string {
  const diff = Object.keys(params)
    .filter((k) => params[k] !== def.params[k])
    .sort()
    .map((k) => `${k}=${String(params[k])}`);
  return diff.length ? `${def.name}:${diff.join(';')}` : def.name;
}

export { SeriesDefinitionError };

/**
 * A failed range's log key: its series and the shape of its error. Not the label (a client picks its
 * parameters) nor the message's numbers (a bar's time, a count): keyed by those, each request could
 * write a line of its own (an attacker-style probe: 160 lines in 20 s, one per request).
 */
export function rangeFailureKey(series: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return `range:${series}:${msg.slice(0, 200).replace(/\d+/g, '#')}`;
}
