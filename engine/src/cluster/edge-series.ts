import type { Hub } from '../broadcast/hub.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { WirePosition } from '../domain/wire.ts';
import type { SeriesPoint } from '../series/define-series.ts';
import { PointWindow } from '../series/point-window.ts';
import { changedSince, keptSame } from '../series/point-changes.ts';
import { type SeriesInstance, type SeriesLease, type SeriesRegistry, type SeriesRequest, type SeriesService, type SeriesState } from '../series/series-registry.ts';
import { SeriesBusyError } from '../series/series-errors.ts';
import { seriesPointSerializer, seriesStatusMessage } from '../series/series-wire.ts';
import { type DemandKeys, instanceKeys, instanceMember, type SeriesKeys } from './cluster-keys.ts';
import { EdgeDemand, type EdgeDemandConfig } from './edge-demand.ts';
import { type FeedLog, LogFeed, type LogFeedConfig } from './edge-feed.ts';
import { decodeInstanceItem, type InstanceItem, type InstanceStatus, isStatus } from './point-codec.ts';

export interface EdgeSeriesConfig extends LogFeedConfig {
  /** The edge's registry: parses requests and computes GET /series ranges (it never runs an instance). */
  registry: SeriesRegistry;
  keys: DemandKeys;
  /** This edge's NODE_ID (it holds the instances it asked for under it). */
  node: string;
  hub: Hub;
  /** The candle series' position, carried on each point as in ROLE=all. */
  positions: { position(id: SeriesId): WirePosition };
  catalog: EdgeDemandConfig['catalog'];
  /** Instances held at once on this edge (MAX_SERIES_INSTANCES, as the registry's cap in ROLE=all). */
  maxInstances: number;
  /** Parameter variants held at once per definition and series (the registry's default: 16). */
  maxVariants?: number;
  /** An instance nobody on this edge held for this long is unfollowed and freed. */
  idleMs: number;
  touchEveryMs: number;
}

/** An instance's id in the feed and the demand: `label|SYMBOL:interval`, with its log's keys. */
interface InstanceId extends SeriesId {
  readonly keys: SeriesKeys;
}

/** One instance as an edge serves it: the leader's points, merged by offset, in a window and out to its topic (exported for its spec). */
export class FollowedInstance implements SeriesInstance {
  readonly label: string;
  readonly topic: string;
  window: PointWindow;
  state: SeriesState = 'warming';
  error?: string;
  refs = 0;
  loaded = false;
  /** The cluster refused it (not the operator's failure, which the leader's log reports): the next client asks afresh. */
  refused = false;
  private readonly message: (p: SeriesPoint) => string;

  constructor(
    readonly req: SeriesRequest,
    readonly bar: SeriesId,
    private readonly cfg: EdgeSeriesConfig,
  ) {
    this.label = req.label;
    this.topic = `series/${req.label}/${bar.symbol}/${bar.interval}`;
    this.window = new PointWindow(cfg.bufferSize);
    this.message = seriesPointSerializer(this.label, bar.symbol, bar.interval, () => cfg.positions.position(bar));
  }

  /** A new baseline from the leader's log (points, then its status); after a reload, the points that changed go out (new, or corrected meanwhile). */
  reset(items: readonly InstanceItem[], reloaded: boolean): void {
    const before = this.window;
    this.window = new PointWindow(this.cfg.bufferSize);
    for (const item of items) {
      if (isStatus(item)) this.applyStatus(item);
      else this.window.upsert(item);
    }
    if (reloaded) {
      const held = new Map(before.last(before.size).map((p) => [p.time, p]));
      for (const p of changedSince(held, this.window)) this.cfg.hub.publish(this.topic, () => this.message(p));
    }
    this.loaded = true;
  }

  /** The leader's instance failed (its operator threw) or runs again: clients are told as ROLE=all tells them. */
  applyStatus(s: InstanceStatus): void {
    if (s.status === 'failed') {
      if (this.state === 'failed' && this.error === s.error) return;
      this.state = 'failed';
      this.error = s.error ?? 'failed';
      this.cfg.hub.publish(this.topic, () => seriesStatusMessage(this.label, this.bar, 'failed', this.error));
    } else if (this.state === 'failed') {
      this.state = 'live';
      this.error = undefined;
      this.cfg.hub.publish(this.topic, () => seriesStatusMessage(this.label, this.bar, 'live'));
    }
  }

  /** The next point of the log, published as ROLE=all publishes a point it computes (a correction of an older one too). */
  apply(p: SeriesPoint): void {
    const same = keptSame(this.window, p);
    const kept = this.window.upsert(p) !== 'older' || this.window.at(p.time) === p;
    if (kept && !same) this.cfg.hub.publish(this.topic, () => this.message(p));
  }
}

/**
 * Derived series on an edge (ROLE=edge), computed once in the cluster rather than here: a client's
 * request is parsed as in ROLE=all, then the instance is asked of the leader through Redis (EdgeDemand
 * over the instance demand keys: wanted set, touches, nudge, answer) and, once the leader has written
 * its window, followed like a bar series (LogFeed: subscribe first, atomic snapshot and position,
 * merge by offset, holes repaired from the history). Clients get the same `historical` series part
 * and `series_point` messages as from ROLE=all. An instance nobody here holds is unfollowed after
 * the idle time; the leader releases it when no edge touches it any more.
 */
export class EdgeSeries implements SeriesService {
  readonly feed: LogFeed<InstanceItem>;
  readonly demand: EdgeDemand;
  private readonly instances = new Map<string, FollowedInstance>();

  constructor(private readonly cfg: EdgeSeriesConfig) {
    const log: FeedLog<InstanceItem> = {
      keys: (id) => (id as InstanceId).keys,
      decode: decodeInstanceItem,
      reset: (id, snap, reloaded) => this.instances.get(id.key)?.reset(snap.bars, reloaded),
      apply: (id, _offset, item) => {
        const inst = this.instances.get(id.key);
        if (!inst) return;
        if (isStatus(item)) inst.applyStatus(item);
        else inst.apply(item);
      },
    };
    // An instance's log keeps bufferSize points and its status.
    // Its clients wait for an instance's first snapshot: served as it comes.
    this.feed = new LogFeed({ ...cfg, bufferSize: cfg.bufferSize + 1, onReset: (id) => this.demand.loaded(id) }, log);
    this.demand = new EdgeDemand({
      redis: cfg.redis,
      subscriber: cfg.subscriber,
      keys: cfg.keys,
      node: cfg.node,
      catalog: cfg.catalog,
      configured: () => false,
      feed: this.feed,
      // Unless a client took it again while it was being unfollowed (the new follow reloads it).
      free: (id) => {
        if (this.instances.get(id.key)?.refs === 0) this.instances.delete(id.key);
      },
      // Refused when asked again while its clients were served (the leader dropped it): they are told
      // it failed, as ROLE=all tells them, and the next client asks afresh. Untold, they froze on `live`.
      ended: (id, _code, message) => {
        const inst = this.instances.get(id.key);
        if (!inst) return;
        inst.applyStatus({ status: 'failed', error: message });
        inst.refused = true;
      },
      maxSeries: cfg.maxInstances,
      idleMs: cfg.idleMs,
      touchEveryMs: cfg.touchEveryMs,
      answerTimeoutMs: 60_000,
      log: cfg.log,
    });
  }

  /** Instances this edge follows now (it computes none). */
  get size(): number {
    return this.instances.size;
  }

  parse(spec: string | undefined, interval: string): ReturnType<SeriesRegistry['parse']> {
    return this.cfg.registry.parse(spec, interval);
  }

  request(name: string, overrides: Record<string, string>, interval: string): ReturnType<SeriesRegistry['request']> {
    return this.cfg.registry.request(name, overrides, interval);
  }

  range(...args: Parameters<SeriesRegistry['range']>): ReturnType<SeriesRegistry['range']> {
    return this.cfg.registry.range(...args);
  }

  /** The state of an instance this edge follows (undefined: none, or the cluster refused it). */
  status(label: string, bar: SeriesId): ReturnType<SeriesRegistry['status']> {
    const inst = this.instances.get(`${label}|${bar.key}`);
    return inst && !inst.refused ? { state: inst.state, ...(inst.error ? { error: inst.error } : {}) } : undefined;
  }

  list(): ReturnType<SeriesRegistry['list']> {
    return this.cfg.registry.list().map((d) => ({
      ...d,
      instances: [...this.instances.values()]
        .filter((i) => i.req.def.name === d.name)
        .map((i) => ({ name: i.label, symbol: i.bar.symbol, interval: i.bar.interval, state: i.state, clients: i.refs, ...(i.error ? { error: i.error } : {}) })),
    }));
  }

  /**
   * Holds the instance for a client: asks the cluster for it (once per edge) and resolves `ready` when
   * its points are loaded, or marks it failed when the leader refused it. At the leader's caps `ready`
   * rejects with SeriesBusyError (as `acquire` throws at this edge's own). Throws InvalidNameError for
   * a label that cannot become a Redis key.
   */
  acquire(req: SeriesRequest, bar: SeriesId, address?: string): SeriesLease {
    const key = instanceMember(req.label, bar);
    const id: InstanceId = { symbol: bar.symbol, interval: bar.interval, key, keys: instanceKeys(req.label, bar, this.cfg.keyPrefix) };
    let inst = this.instances.get(key);
    if (!inst?.refs) this.checkRoom(req, bar);
    // A refused instance is asked for afresh by the next client.
    if (!inst || inst.refused) this.instances.set(key, (inst = new FollowedInstance(req, bar, this.cfg)));
    const held = inst;
    // Still followed, but let go of in the cluster (nobody here held it): the leader may have released
    // it and may refuse it now, so this client waits for its answer as for a new one. Served at once
    // (the instance read `live`), a refusal left it a series frozen and never told (a review).
    if (held.refs === 0 && held.state === 'live' && !this.demand.isLive(id)) held.state = 'warming';
    held.refs++;
    // The address goes to the leader as the asker (its warm-up counts against it there), uncharged:
    // new instances are rationed before this.
    const ready = this.demand.want(id, undefined, address).then((o) => {
      if (!o.ok) {
        held.refused = true;
        // Its clients may all have gone before the answer: nothing would delete it then (the demand
        // frees only what it followed), and labels are the clients' choice.
        if (held.refs === 0 && this.instances.get(key) === held) this.instances.delete(key);
        if (o.code === 'series_busy') throw new SeriesBusyError(o.message);
        held.state = 'failed';
        held.error = o.message;
      } else if (held.state === 'warming') held.state = 'live';
      return held as SeriesInstance;
    });
    // A client served at once (the instance was live) does not wait for `ready`: no unhandled rejection.
    ready.catch(() => undefined);
    let released = false;
    return {
      instance: held,
      ready,
      release: () => {
        if (released) return;
        released = true;
        held.refs = Math.max(0, held.refs - 1);
        // A refused ask counted no watcher (or its entry is gone): released anyway, it took one from
        // the next client's entry, whose series was then ended under it (a review).
        if (!held.refused) this.demand.release(id);
        if (held.refs === 0 && held.refused && this.instances.get(key) === held) this.instances.delete(key);
      },
    };
  }

  /**
   * The registry's caps, checked here as ROLE=all checks them (SeriesBusyError, the same message): a
   * request the leader would refuse is answered at once, and never reaches Redis. Only held instances
   * count: one nobody holds is let go by the demand's idle sweep (or its LRU at its own cap).
   */
  private checkRoom(req: SeriesRequest, bar: SeriesId): void {
    const { maxInstances, maxVariants = 16 } = this.cfg;
    let held = 0;
    let variants = 0;
    for (const i of this.instances.values()) {
      if (i.refs === 0 || i.refused) continue;
      held++;
      if (i.req.def === req.def && i.bar.key === bar.key && i.label !== req.def.name) variants++;
    }
    if (req.label !== req.def.name && variants >= maxVariants) {
      throw new SeriesBusyError(`too many parameter variants of '${req.def.name}' on ${bar.symbol} ${bar.interval} in use (max ${maxVariants}); try again later or use its defaults`);
    }
    if (held >= maxInstances) throw new SeriesBusyError(`too many derived series in use (MAX_SERIES_INSTANCES=${maxInstances}); try again later`);
  }

  stop(): void {
    this.demand.stop();
    this.feed.stop();
    this.instances.clear();
  }
}
