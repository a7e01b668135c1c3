import type { Bar } from '../domain/bar.ts';
import { klineTopic, type SeriesId } from '../domain/series-id.ts';
import { historicalMessage, liveCandleMessage, type WirePosition } from '../domain/wire.ts';
import type { SeriesWindow } from '../store/series-window.ts';
import { StampedCache } from './stamped-cache.ts';
import { Snapshot, SnapshotCache, type SnapshotCacheLimits } from './snapshot-cache.ts';

/** The one thing the hub needs from uWebSockets.js: topic publish (fan-out happens in native code). */
export interface Publisher {
  /** `subscribers` is the count the hub just read, so the publisher need not ask again. */
  publish(topic: string, message: string, subscribers: number): boolean;
  /** Subscribers of a topic now; a message nobody would receive is never serialized. */
  subscribers(topic: string): number;
}

export const STATUS_TOPIC = 'status';

export type UpstreamState = 'live' | 'reconnecting' | 'stale';

/**
 * Fan-out of every series to its subscribers. Each update is serialized once and published to the
 * series' topic; the `historical` snapshot is serialized once per window version, not once per client,
 * so a connect storm costs one JSON.stringify per series. Snapshots are kept in a bounded cache and
 * dropped when their series changes, so only series being connected to hold one.
 */
export class Hub {
  private publisher: Publisher | undefined;
  private readonly snapshots: SnapshotCache;
  /** Sockets following each derived series topic. */
  private readonly followers = new Map<string, number>();
  /** Bumped by every follow and unfollow. */
  followVersion = 0;
  private statusJson: string;
  private upstream: UpstreamState = 'reconnecting';
  /** `stale` with this node's source, for the clients of a series whose own stream is silent. */
  private staleJson: string;
  /** Series whose stream the exchange went silent on (see setStaleSeries). */
  private readonly staleSeries = new Map<string, SeriesId>();
  /** The upstream went `live` as a whole: its silent series are told `stale` again at the next call. */
  private restale = false;
  /** `historical` messages with derived series, by series and labels (see firstMessage): 32 MiB at most. */
  readonly firstMessages = new StampedCache<string, Buffer>(32 * 2 ** 20);
  /**
   * Each derived series' part of those messages (`"label":[points]` over a snapshot's range), by series
   * and label: a client asking for another subset (or order) of the same series builds its message from
   * these, not by serializing every point again (12 series shuffled per connect cost ~16 ms each, an
   * attacker-style probe). 32 MiB at most.
   */
  readonly seriesParts = new StampedCache<string, string>(32 * 2 ** 20);

  constructor(
    private readonly historyOnConnect: number,
    private source: string,
    snapshotLimits?: SnapshotCacheLimits,
  ) {
    this.snapshots = new SnapshotCache(snapshotLimits);
    this.statusJson = this.statusMessage('reconnecting');
    this.staleJson = this.statusMessage('stale');
  }

  attach(publisher: Publisher | undefined): void {
    this.publisher = publisher;
  }

  /** Called after the store's window already holds `bar`, so a snapshot taken now includes it. */
  publishBar(id: SeriesId, bar: Bar, pos?: WirePosition): void {
    // The window changed: a snapshot cached for it can never be served again.
    this.snapshots.drop(id.key);
    const topic = klineTopic(id);
    const n = this.publisher?.subscribers(topic) ?? 0;
    if (n > 0) this.publisher!.publish(topic, liveCandleMessage(id.symbol, id.interval, bar, pos, Date.now()), n);
  }

  /** A socket now follows a derived series topic (the server calls this as it subscribes it). */
  follow(topic: string): void {
    this.followers.set(topic, (this.followers.get(topic) ?? 0) + 1);
    this.followVersion++;
  }

  /** A socket that followed `topic` closed. */
  unfollow(topic: string): void {
    const n = (this.followers.get(topic) ?? 0) - 1;
    if (n > 0) this.followers.set(topic, n);
    else this.followers.delete(topic);
    this.followVersion++;
  }

  /** Derived series topics with at least one follower. */
  get followedTopics(): number {
    return this.followers.size;
  }

  /**
   * Whether a derived series topic has followers now. Asked for every instance on every update, so it
   * is answered from a count kept here, not by a call into uWS per instance per update.
   */
  listening(topic: string): boolean {
    return this.followers.has(topic);
  }

  /** Publishes a derived series point, built on demand: not built when nobody follows the topic. */
  publish(topic: string, message: () => string): void {
    if (!this.followers.has(topic)) return;
    const n = this.publisher?.subscribers(topic) ?? 0;
    if (n > 0) this.publisher!.publish(topic, message(), n);
  }

  /** The `historical` message for a series, cached by window version (as bytes; `json` decodes them). */
  snapshot(id: SeriesId, window: SeriesWindow, pos?: WirePosition): Snapshot {
    // `pos` needs no place in the cache key: a position only moves with a publishBar, which drops the entry.
    const hit = this.snapshots.get(id.key, window.version);
    if (hit) return hit;
    const json = historicalMessage(id.symbol, id.interval, window.last(this.historyOnConnect), pos);
    // Its own allocation, not a slice of Buffer's shared pool: a cached small snapshot must not pin a pool slab.
    const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(json));
    bytes.write(json);
    const snap = new Snapshot(window.version, bytes);
    this.snapshots.set(id.key, snap);
    return snap;
  }

  /**
   * Sends a series' subscribers a fresh `historical` (with `"recovered": false`): an edge that had to
   * reload the series from a snapshot (a hole its history could not fill, or a new epoch) would
   * otherwise leave them with a hole. Clients treat it as they treat a failed resume.
   */
  publishSnapshot(id: SeriesId, window: SeriesWindow, pos?: WirePosition): void {
    this.snapshots.drop(id.key);
    const topic = klineTopic(id);
    const n = this.publisher?.subscribers(topic) ?? 0;
    if (n > 0) this.publisher!.publish(topic, `${this.snapshot(id, window, pos).json.slice(0, -1)},"recovered":false}`, n);
  }

  /** Forgets the cached snapshot of a series (its window was released). */
  dropSnapshot(id: SeriesId): void {
    this.snapshots.drop(id.key);
  }

  /** Snapshots cached now and their bytes (for /metrics). */
  get snapshotCache(): { entries: number; bytes: number } {
    return { entries: this.snapshots.size, bytes: this.snapshots.bytes };
  }

  /**
   * The exchange the data comes from, said in every `status`: an edge learns its leader's from Redis
   * (it said `cluster`, and a chart fed by the simulator through a cluster showed no "simulated feed").
   */
  setSource(source: string): void {
    if (source === this.source) return;
    this.source = source;
    this.staleJson = this.statusMessage('stale');
    this.setUpstream(this.upstream);
  }

  /**
   * The series whose own stream is silent now (the exchange acknowledged it and sends nothing on it,
   * while its connection delivers others): their clients are told `stale` on the series' topic while
   * the upstream as a whole is `live`, and its state again once the stream is heard. Before, every
   * client of such a series read `live` through the freeze (an attacker-style probe: 242 s).
   */
  setStaleSeries(ids: Iterable<SeriesId>): void {
    const now = new Map<string, SeriesId>();
    for (const id of ids) now.set(id.key, id);
    for (const [key, id] of this.staleSeries) {
      if (now.has(key)) continue;
      this.staleSeries.delete(key);
      this.publishStatus(id);
    }
    for (const [key, id] of now) {
      if (this.staleSeries.has(key)) continue;
      this.staleSeries.set(key, id);
      this.publishStatus(id);
    }
  }

  /** The `status` a client of `id` is told: the upstream's, or `stale` while its own stream is silent. */
  statusFor(id: SeriesId): string {
    return this.upstream === 'live' && this.staleSeries.has(id.key) ? this.staleJson : this.statusJson;
  }

  private publishStatus(id: SeriesId): void {
    const topic = klineTopic(id);
    const n = this.publisher?.subscribers(topic) ?? 0;
    if (n > 0) this.publisher!.publish(topic, this.statusFor(id), n);
  }

  /** Called with every status tick (a second or less apart), changed or not. */
  setUpstream(state: UpstreamState): void {
    this.upstream = state;
    const json = this.statusMessage(state);
    if (json === this.statusJson) {
      // Said again a tick later: the status topic's later shards (over 1,024 sockets) go out in later
      // turns than a series' topic, and a client there read `stale`, then `live`, for good (a review).
      if (this.restale) for (const id of this.staleSeries.values()) this.publishStatus(id);
      this.restale = false;
      return;
    }
    this.statusJson = json;
    const n = this.publisher?.subscribers(STATUS_TOPIC) ?? 0;
    if (n > 0) this.publisher!.publish(STATUS_TOPIC, json, n);
    // Live again as a whole: a series whose own stream is silent is still stale (said on its topic).
    if (state === 'live') for (const id of this.staleSeries.values()) this.publishStatus(id);
    this.restale = state === 'live' && this.staleSeries.size > 0;
  }

  private statusMessage(upstream: UpstreamState): string {
    return JSON.stringify({ type: 'status', upstream, source: this.source });
  }
}
