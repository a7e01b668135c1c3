import type { Subscription } from 'rxjs';
import type { SeriesId } from '../domain/series-id.ts';
import { repairBursts } from '../pipeline/repair-bursts.ts';
import { createLogDedup } from '../log-dedup.ts';
import { type SeriesDefinition, SeriesDefinitionError, type SeriesPoint } from './define-series.ts';
import type { HostedInstance, InstanceHost } from './instance-host.ts';
import { LiveInstance } from './live-instance.ts';
import { LiveTimeShare } from './live-time-share.ts';
import { OlderBars } from './older-bars.ts';
import { RunSlices } from './run-slices.ts';
import { SeriesBusyError, SeriesFailedError } from './series-errors.ts';
import { SeriesFeeds } from './series-feeds.ts';
import { SeriesRanges } from './series-ranges.ts';
import { parseSeries, requestSeries, type SeriesRequest } from './series-requests.ts';
import type { SeriesInstance, SeriesState } from './series-instance.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';

export { SeriesBusyError, SeriesFailedError };
export { MAX_SERIES_PER_REQUEST, SERIES_CAP_RETRY_SEC, type SeriesRefusal, type SeriesRequest } from './series-requests.ts';
export { rangeFailureKey } from './series-ranges.ts';
export type { SeriesInstance, SeriesState } from './series-instance.ts';
export type { SeriesRegistryDeps } from './series-registry-deps.ts';

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
export class SeriesRegistry implements InstanceHost {
  private readonly defs = new Map<string, SeriesDefinition>();
  private readonly instances = new Map<string, LiveInstance>();
  /** Per series with instances: its repaired holes (one restart of its instances per burst). */
  private readonly repairSubs = new Map<string, Subscription>();
  private readonly dedup;
  private stopped = false;
  /** @internal The clock bars are timed by. */
  readonly now: () => number;
  /** @internal Every warm-up's and range's slices (see RunSlices). */
  readonly slices: RunSlices;
  /** @internal Bars older than the window, for warm-ups and ranges. */
  readonly older: OlderBars;
  /** @internal One subscription to a series' bars, feeding every instance on it. */
  readonly feeds: SeriesFeeds;
  private readonly ranges: SeriesRanges;
  /** Live bars' time per instance, and the limit on all of them together. */
  private readonly liveTime: LiveTimeShare;

  constructor(
    defs: readonly SeriesDefinition[],
    private readonly deps: SeriesRegistryDeps,
  ) {
    for (const d of defs) this.defs.set(d.name, d);
    this.dedup = createLogDedup(deps.log);
    this.now = deps.now ?? (() => performance.now());
    const isStopped = () => this.stopped;
    this.slices = new RunSlices(deps, this.now, this.dedup, isStopped);
    this.older = new OlderBars(deps, this.slices, this.dedup, isStopped);
    this.feeds = new SeriesFeeds(deps);
    this.ranges = new SeriesRanges(deps, this.older, this.slices, this.dedup, isStopped);
    this.liveTime = new LiveTimeShare(deps.liveShareWindowMs ?? 10_000, deps.liveShare ?? 0.25);
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

  /** Parses a `series=` parameter into requests (see `parseSeries`). */
  parse(spec: string | undefined, interval: string): ReturnType<typeof parseSeries> {
    return parseSeries(spec, interval, (name, overrides, iv) => this.request(name, overrides, iv));
  }

  /** One request: a series by name with parameter overrides (see `requestSeries`). */
  request(name: string, overrides: Record<string, string>, interval: string): ReturnType<typeof requestSeries> {
    return requestSeries(this.defs, name, overrides, interval);
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
    return this.ranges.range(req, id, endTime, limit, address);
  }

  /**
   * Ends every instance computed on a series no longer served (an on-demand series released): their
   * runs and feed stop, their windows are dropped; a client asking again later gets a fresh warm-up.
   */
  releaseSeries(id: SeriesId): void {
    for (const inst of [...this.instances.values()]) if (inst.id.key === id.key) inst.dispose();
    this.feeds.release(id);
  }

  stop(): void {
    this.stopped = true;
    for (const inst of [...this.instances.values()]) inst.dispose();
    this.instances.clear();
    this.feeds.stop();
    for (const r of this.repairSubs.values()) r.unsubscribe();
    this.repairSubs.clear();
    this.ranges.stop();
    this.older.stop();
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
  logFailure(inst: HostedInstance, err: unknown, attempt: number, gaveUp: boolean): void {
    this.deps.onError(inst.req.def.name);
    const msg = gaveUp ? 'derived series failed too often; marked failed' : 'derived series failed; restarting';
    this.dedup.warn(`live:${inst.key}:${gaveUp}`, msg, { series: inst.label, key: inst.id.key, attempt, err: err as Error });
  }

  /** @internal */
  timedLive(key: string, ms: number): void {
    // At 1 (a replay's default) nothing is stopped: not even a bar counted whole in one bucket.
    if (this.liveTime.share >= 1) return;
    const over = this.liveTime.add(key, ms, this.now(), (k) => this.instances.get(k)?.refs ?? 1);
    if (!over) return;
    const inst = this.instances.get(over.key);
    this.liveTime.forget(over.key);
    const s = (ms: number) => (ms / 1000).toFixed(2);
    inst?.overShare(
      `its operator took ${s(over.ownMs)} s of the engine's last ${s(this.liveTime.windowMs)} s on live bars, the most of any series for the clients it serves ` +
        `(all together ${s(over.totalMs)} s; SERIES_LIVE_SHARE=${this.liveTime.share} allows ${s(this.liveTime.limitMs)} s): stopped so candles and other series keep their pace`,
    );
  }

  /** @internal */
  untimed(key: string): void {
    this.liveTime.forget(key);
  }

  /** Live instances whose time is counted now (for tests). */
  get timedCount(): number {
    return this.liveTime.size;
  }

  /** @internal */
  forget(inst: HostedInstance): void {
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

export { SeriesDefinitionError };
