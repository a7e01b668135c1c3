import { Subject, type Subscription } from 'rxjs';
import { type SeriesId } from '../domain/series-id.ts';
import type { Logger } from '../log.ts';
import type { SeriesInput } from '../operators/splice-gaps.ts';
import type { RestPriority } from '../sources/rest-gate.ts';
import { klineStreamName } from '../sources/binance-raw.ts';
import type { BootstrapResult } from './bootstrap.ts';
import { BootstrapQueue } from './bootstrap-queue.ts';
import type { SeriesCatalog } from './series-catalog.ts';
import { type DemandOutcome, type DemandRefusal, NOT_SERVED_ON_DEMAND, type SeriesDemand, waitFor } from './series-demand.ts';
import type { Observable } from 'rxjs';
import { AddressRateLimit } from '../server/address-rate-limit.ts';
import { addressBlock } from '../server/client-address.ts';
import { touch, unwatch, watch } from './watch-count.ts';

export interface SeriesLifecycleDeps {
  catalog: SeriesCatalog;
  /** Upstream subscriptions (the shards). */
  upstream: { add(streams: readonly string[]): void; remove(streams: readonly string[]): void };
  /** Live bars of a series being loaded are kept, then routed to its input once it is live. */
  router: { expect(key: string): void; attach(key: string, input: Subject<SeriesInput>): void; detach(key: string): void };
  /**
   * Loads a native series from the store and REST (see `loadSeries$`): `priority` 'start' for an
   * on-demand one (its REST calls go after what is configured; RestGate), 'live' for a pinned one.
   */
  load(id: SeriesId, priority: RestPriority): Observable<BootstrapResult>;
  /** Starts a native series' pipeline on its input; the subscription is the lifecycle's to end. */
  startNative(id: SeriesId, input$: Observable<SeriesInput>): Subscription;
  /** Starts a custom interval on its (live) source; calls `live()` once its history is loaded. `priority` as for `load`. */
  startCustom(id: SeriesId, source: SeriesId, live: () => void, priority: RestPriority): Subscription;
  /** Frees what a series held: store window, hub caches, derived-series instances, its bar feed. */
  free(id: SeriesId): void;
  /** A series is live: its history is in the store, before any of its live bars are published. */
  live?(id: SeriesId): void;
  /** A served series ended for good (its symbol stopped trading): its clients are told and closed. */
  ended(id: SeriesId, code: DemandRefusal, message: string): void;
  /** The exchange said -1121 for a symbol the catalog lists: the catalog should be refreshed now. */
  invalidSymbol(symbol: string): void;
  idleSeriesMs: number;
  maxOnDemandSeries: number;
  /** New on-demand series one client address may start per minute (burst: half of it); absent = unlimited. */
  onDemandPerMinute?: number;
  concurrency: number;
  log: Logger;
  now?: () => number;
}

interface Entry {
  readonly id: SeriesId;
  /** For a custom interval: the native series it is computed from. */
  readonly source: SeriesId | undefined;
  /** Configured: kept live always. */
  pinned: boolean;
  /** Pinned by a replay's late stream (pinSeries), not by the configuration: not counted in readiness. */
  late: boolean;
  state: 'loading' | 'live';
  /** Clients holding it (`want` without `release`). */
  watchers: number;
  /** Custom intervals computed from it. */
  dependents: number;
  lastUsed: number;
  waiters: Array<(o: DemandOutcome) => void>;
  input: Subject<SeriesInput> | undefined;
  sub: Subscription | undefined;
}

export interface LifecycleCounts {
  live: number;
  loading: number;
  onDemand: number;
  pinned: number;
  queued: number;
}

/**
 * Starts and stops series. A series is started when it is configured (`pin`, kept for good) or asked
 * for (`want`, the in-process `SeriesDemand`): a native one is subscribed upstream, loaded from REST
 * through a bootstrap queue (one load however many ask), then its pipeline goes live; a custom interval
 * first needs its source, itself a series. Configured series and on-demand ones load through queues of
 * their own, each with `concurrency` loads (a client's series ahead of its queue's backlog): on-demand
 * loads waiting for their share of the REST budget held every slot of one shared queue, and a restart
 * under a flood of clients left 38 of 42 configured series unloaded for 7 minutes (an attacker-style
 * probe). A series pinned while it waits moves to the configured queue.
 * An on-demand series nobody held for IDLE_SERIES_MS is stopped: unsubscribed upstream, its pipeline
 * ended, its memory freed. At most MAX_ON_DEMAND_SERIES on-demand series exist at once.
 */
export class SeriesLifecycle implements SeriesDemand {
  private readonly entries = new Map<string, Entry>();
  private readonly configuredQueue: BootstrapQueue;
  private readonly demandQueue: BootstrapQueue;
  private readonly now: () => number;
  private readonly starts: AddressRateLimit | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private pinnedWaiting = 0;
  private readyResolve: (() => void) | undefined;
  readonly ready: Promise<void>;
  private stoppedNow = false;

  /** stop() was called (`ready` then resolves whether or not the bootstrap was done). */
  get stopped(): boolean {
    return this.stoppedNow;
  }
  /** Series loaded since start (progress). */
  loadedCount = 0;
  /** On-demand series released early to make room since the last sweep (logged there, once). */
  private evicted = 0;
  /** Asks refused for their address's rate since the last sweep (logged there, once). */
  private rateLimited = 0;

  constructor(private readonly deps: SeriesLifecycleDeps) {
    this.now = deps.now ?? Date.now;
    const perMinute = deps.onDemandPerMinute;
    this.starts = perMinute ? new AddressRateLimit({ perMinute, burst: Math.max(1, Math.ceil(perMinute / 2)), now: this.now }) : undefined;
    this.ready = new Promise<void>((r) => (this.readyResolve = r));
    const queue = (priority: RestPriority) =>
      new BootstrapQueue(
        (id) => deps.load(id, priority),
        deps.concurrency,
        (r) => this.loaded(r),
        (id, err) => deps.log.error('series bootstrap failed', { key: id.key, err: err as Error }),
      );
    this.configuredQueue = queue('live');
    this.demandQueue = queue('start');
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(250, Math.min(30_000, deps.idleSeriesMs / 4)));
    this.sweepTimer.unref();
  }

  /** Keeps every configured series of a symbol live for good. */
  pinSymbol(symbol: string): void {
    const { catalog } = this.deps;
    for (const id of catalog.nativeSeriesOf(symbol)) this.ensure(id, true, false);
    for (const c of catalog.customSeriesOf(symbol)) this.ensure(c.id, true, false);
  }

  /**
   * Keeps one series live for good, as a configured one (not counted as on demand, never released; a
   * custom interval's source too), when the catalog would not pin its whole symbol: a replay's
   * streams the live run opened on demand (replay-demand.ts) hold only what that run had.
   */
  pinSeries(id: SeriesId): void {
    // Not counted in readiness: a replay read not ready while one of them loaded.
    this.ensure(id, true, false, undefined, true);
  }

  /**
   * Call once every configured symbol is pinned: `ready` resolves when their native series are all
   * loaded (custom intervals follow; readiness reports them).
   */
  sealStartup(): void {
    if (this.pinnedWaiting === 0) this.readyResolve?.();
  }

  isLive(id: SeriesId): boolean {
    return this.entries.get(id.key)?.state === 'live';
  }

  /** Whether the series is configured, held or still kept here (in any state). */
  has(id: SeriesId): boolean {
    return this.entries.has(id.key);
  }

  want(id: SeriesId, address?: string, asker = address, waiting?: () => void, left?: AbortSignal): Promise<DemandOutcome> {
    const refused = this.refusal(id, address);
    if (refused) return Promise.resolve(refused);
    // Loads take turns by block of addresses (addressBlock): one holding many addresses takes one turn.
    const turn = asker ? addressBlock(asker) : undefined;
    const e = this.entries.get(id.key) ?? this.ensure(id, false, true, turn);
    watch(e, this.now());
    if (e.state === 'live') return Promise.resolve({ ok: true });
    this.hurry(e, turn);
    waiting?.();
    return waitFor(e.waiters, left);
  }

  touch(id: SeriesId): void {
    touch(this.entries.get(id.key), this.now());
  }

  release(id: SeriesId): void {
    unwatch(this.entries.get(id.key), this.now());
  }

  /** The symbol stopped trading: each of its series ends and its clients are told why. */
  endSymbol(symbol: string, message: string): void {
    const mine = [...this.entries.values()].filter((e) => e.id.symbol === symbol);
    // Custom intervals first: they hold their sources.
    mine.sort((a, b) => Number(!a.source) - Number(!b.source));
    for (const e of mine) {
      this.deps.ended(e.id, 'symbol_not_trading', message);
      this.stop(e, { ok: false, code: 'symbol_not_trading', message });
    }
  }

  counts(): LifecycleCounts {
    let live = 0;
    let loading = 0;
    let onDemand = 0;
    let pinned = 0;
    for (const e of this.entries.values()) {
      if (e.state === 'live') live++;
      else loading++;
      if (e.pinned) pinned++;
      else onDemand++;
    }
    return { live, loading, onDemand, pinned, queued: this.configuredQueue.pending + this.demandQueue.pending };
  }

  /** The REST lane of a series' gap fills and resyncs: 'live' when configured, 'held' when on demand (RestGate). */
  restLane(id: SeriesId): RestPriority {
    return this.entries.get(id.key)?.pinned ? 'live' : 'held';
  }

  /** Configured series live so far, native and custom (readiness). */
  pinnedProgress(): { native: { live: number; total: number }; custom: { live: number; total: number } } {
    const native = { live: 0, total: 0 };
    const custom = { live: 0, total: 0 };
    for (const e of this.entries.values()) {
      if (!e.pinned || e.late) continue;
      const c = e.source ? custom : native;
      c.total++;
      if (e.state === 'live') c.live++;
    }
    return { native, custom };
  }

  /** A load cancelled earlier has ended: what it left in the store is freed unless the series is wanted again. */
  abandoned(id: SeriesId): void {
    if (!this.entries.has(id.key)) this.deps.free(id);
  }

  stopAll(): void {
    this.stoppedNow = true;
    clearInterval(this.sweepTimer);
    this.configuredQueue.stop();
    this.demandQueue.stop();
    for (const e of this.entries.values()) {
      e.sub?.unsubscribe();
      e.input?.complete();
    }
    this.readyResolve?.();
  }

  private refusal(id: SeriesId, address: string | undefined): DemandOutcome | undefined {
    const { catalog, maxOnDemandSeries } = this.deps;
    if (!catalog.isTrading(id.symbol)) return { ok: false, code: 'symbol_not_trading', message: `symbol ${id.symbol} is not trading on the exchange` };
    if (!catalog.isInterval(id.interval)) return { ok: false, code: 'unknown_interval', message: `unknown interval '${id.interval}'; valid intervals: ${catalog.intervals().join(', ')}` };
    if (this.entries.has(id.key)) return undefined;
    // None served on demand: said plainly, and before the rate, which such an ask used up for nothing.
    if (maxOnDemandSeries === 0) return NOT_SERVED_ON_DEMAND;
    // Joining a series others started is free; starting one costs REST weight, so it is rationed.
    const wait = address !== undefined && this.starts ? this.starts.take(address) : 0;
    if (wait > 0) {
      this.rateLimited++;
      return { ok: false, code: 'rate_limited', retryAfterSec: wait, message: `too many new series from this address (ON_DEMAND_PER_MIN); retry in ${wait} s` };
    }
    // A custom interval may need its source too.
    const source = catalog.sourceOf(id);
    const needed = 1 + (source && !this.entries.has(source.key) ? 1 : 0);
    const over = this.counts().onDemand + needed - maxOnDemandSeries;
    // Room is made from series nobody holds (one-off HTTP reads, clients gone) before refusing, so
    // a flood of reads cannot lock everyone out until IDLE_SERIES_MS passes.
    if (over > 0 && this.makeRoom(over, source?.key) < over) {
      return { ok: false, code: 'series_capacity', message: `the engine serves at most ${maxOnDemandSeries} on-demand series (MAX_ON_DEMAND_SERIES); try again later` };
    }
    return undefined;
  }

  /**
   * `asker`: the block of client addresses waiting for it, if any (waited-for loads take turns by it).
   * `late`: pinned by a replay's late stream (pinSeries).
   */
  private ensure(id: SeriesId, pinned: boolean, urgent: boolean, asker?: string, late = false): Entry {
    const hit = this.entries.get(id.key);
    if (hit) {
      if (pinned) {
        this.markPinned(hit, late);
        if (hit.source) this.markPinned(this.entries.get(hit.source.key)!, late);
      }
      return hit;
    }
    const source = this.deps.catalog.sourceOf(id);
    const e: Entry = { id, source, pinned, late: pinned && late, state: 'loading', watchers: 0, dependents: 0, lastUsed: this.now(), waiters: [], input: undefined, sub: undefined };
    this.entries.set(id.key, e);
    if (this.awaited(e)) this.pinnedWaiting++;
    if (source) {
      const src = this.ensure(source, pinned, urgent, asker, late);
      src.dependents++;
      if (src.state === 'live') this.startCustom(e);
      else if (urgent) this.hurry(src, asker);
    } else {
      this.deps.router.expect(id.key);
      this.deps.upstream.add([klineStreamName(id.symbol, id.interval)]);
      this.queueOf(e).push(id, urgent, asker);
    }
    return e;
  }

  /**
   * Pins an entry, or makes a replay's late pin a configured one (`late` false), keeping the count of
   * what `ready` waits for.
   */
  private markPinned(e: Entry, late: boolean): void {
    const awaited = this.awaited(e);
    if (!e.pinned) {
      e.late = late;
      this.pin(e);
    } else if (!late) e.late = false;
    if (!awaited && this.awaited(e)) this.pinnedWaiting++;
  }

  /** What `ready` waits for: a configured native series not live yet (a replay's late ones are not waited for: they may never load). */
  private awaited(e: Entry): boolean {
    return e.pinned && !e.late && !e.source && e.state !== 'live';
  }

  /**
   * Kept for good from now: a load still waiting in the on-demand queue moves to the configured one,
   * ahead of its backlog when a client waits for it (as it was in the on-demand queue).
   */
  private pin(e: Entry): void {
    e.pinned = true;
    if (e.source || !this.demandQueue.waiting(e.id.key)) return;
    this.demandQueue.cancel(e.id.key);
    this.configuredQueue.push(e.id, e.waiters.length > 0);
  }

  /** The queue a native series loads through: the one it is in, else its kind's. */
  private queueOf(e: Entry): BootstrapQueue {
    if (this.demandQueue.has(e.id.key)) return this.demandQueue;
    return e.pinned ? this.configuredQueue : this.demandQueue;
  }

  /** Someone waits for it: its load (or its source's) goes ahead of the backlog. */
  private hurry(e: Entry, asker?: string): void {
    if (e.source) {
      const src = this.entries.get(e.source.key);
      if (src && src.state !== 'live') this.hurry(src, asker);
    } else if (e.state !== 'live') this.queueOf(e).push(e.id, true, asker);
  }

  private loaded(r: BootstrapResult): void {
    const e = this.entries.get(r.id.key);
    if (!e || this.stoppedNow) return;
    if (r.outcome === 'invalid-symbol') {
      this.deps.log.warn(`symbol ${r.id.symbol} rejected by the exchange (-1121 Invalid symbol)`);
      this.deps.invalidSymbol(r.id.symbol);
      this.endSymbol(r.id.symbol, `symbol ${r.id.symbol} is not trading on the exchange`);
      return;
    }
    this.loadedCount++;
    const input = new Subject<SeriesInput>();
    e.input = input;
    e.sub = this.deps.startNative(e.id, input.asObservable());
    // Live (its history is in the store) before the bars that came during the load enter: a cluster's
    // leader writes the whole window ahead of them (written first, a live bar made edges serve a series
    // of one bar).
    this.live(e);
    this.deps.router.attach(e.id.key, input);
    for (const d of this.entries.values()) if (d.source?.key === e.id.key && !d.sub) this.startCustom(d);
  }

  private startCustom(e: Entry): void {
    e.sub = this.deps.startCustom(
      e.id,
      e.source!,
      () => {
        if (this.entries.get(e.id.key) === e) this.live(e);
      },
      e.pinned ? 'live' : 'start',
    );
  }

  private live(e: Entry): void {
    if (e.state === 'live') return;
    const awaited = this.awaited(e);
    e.state = 'live';
    if (awaited && --this.pinnedWaiting === 0) this.readyResolve?.();
    this.deps.live?.(e.id);
    const waiters = e.waiters.splice(0);
    for (const w of waiters) w({ ok: true });
  }

  private stop(e: Entry, outcome: DemandOutcome): void {
    if (this.entries.get(e.id.key) !== e) return;
    this.entries.delete(e.id.key);
    if (this.awaited(e) && --this.pinnedWaiting === 0) this.readyResolve?.();
    e.sub?.unsubscribe();
    e.input?.complete();
    if (e.source) {
      const src = this.entries.get(e.source.key);
      if (src) src.dependents = Math.max(0, src.dependents - 1);
    } else {
      this.configuredQueue.cancel(e.id.key);
      this.demandQueue.cancel(e.id.key);
      this.deps.upstream.remove([klineStreamName(e.id.symbol, e.id.interval)]);
      this.deps.router.detach(e.id.key);
    }
    this.deps.free(e.id);
    for (const w of e.waiters.splice(0)) w(outcome);
  }

  /**
   * Stops up to `n` on-demand series nobody holds, least recently used first (never `keep`, the
   * source the new series needs); returns how many. Counted, and logged once per sweep.
   */
  private makeRoom(n: number, keep: string | undefined): number {
    let freed = 0;
    while (freed < n) {
      let lru: Entry | undefined;
      for (const e of this.entries.values()) {
        if (e.pinned || e.watchers > 0 || e.dependents > 0 || e.id.key === keep) continue;
        if (!lru || e.lastUsed < lru.lastUsed) lru = e;
      }
      if (!lru) break;
      this.stop(lru, { ok: false, code: 'series_capacity', message: 'series released to make room' });
      freed++;
    }
    this.evicted += freed;
    return freed;
  }

  /** Stops on-demand series nobody held for IDLE_SERIES_MS (custom intervals before their sources). */
  private sweep(): void {
    const t = this.now();
    const idle = (e: Entry) => !e.pinned && e.watchers === 0 && e.dependents === 0 && t - e.lastUsed >= this.deps.idleSeriesMs;
    const gone: string[] = [];
    for (const pass of [true, false]) {
      for (const e of [...this.entries.values()]) {
        if (Boolean(e.source) !== pass || !idle(e)) continue;
        gone.push(e.id.key);
        this.stop(e, { ok: false, code: 'series_capacity', message: 'series released' });
      }
    }
    if (gone.length) this.deps.log.info(`released ${gone.length} idle on-demand series`, { series: gone.slice(0, 10).join(',') });
    if (this.evicted) this.deps.log.info(`released ${this.evicted} on-demand series nobody held to make room for others (MAX_ON_DEMAND_SERIES=${this.deps.maxOnDemandSeries})`);
    this.evicted = 0;
    if (this.rateLimited) this.deps.log.warn(`refused ${this.rateLimited} requests for new on-demand series: their client address started too many (ON_DEMAND_PER_MIN)`);
    this.rateLimited = 0;
  }
}
