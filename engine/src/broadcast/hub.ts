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

/**
 * A `status` other than `live` is said again this often, to the clients it concerns: while the market
 * is down nothing else goes on a socket, and a browser cannot tell a quiet socket from a dead one (a
 * dropped NAT mapping closes nothing). Hearing nothing for a few of these, the web client opens a
 * new socket and resumes (a chart-under-faults review: a chart whose socket died after `reconnecting`
 * kept it for good, while a new one would have worked at once).
 */
export const STATUS_REPEAT_MS = 10_000;

/** `ended`: a replay played its last frame; connected, and nothing more will come (no fault). */
export type UpstreamState = 'live' | 'reconnecting' | 'stale' | 'ended';

/** A series whose clients read other than the upstream's state: its own stream is silent, or its connection is down. */
export interface SeriesStatus {
  id: SeriesId;
  state: 'stale' | 'reconnecting';
}

/** How far from `live` a state is: a series reads the worse of its own and the upstream's. */
const RANK: Record<UpstreamState, number> = { live: 0, ended: 0, stale: 1, reconnecting: 2 };

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
  /** The `status` message of each state, with this node's source. */
  private statusJsonOf: Record<UpstreamState, string>;
  /** Series whose own stream is silent or whose connection is down (see setStatus). */
  private seriesStates = new Map<string, SeriesStatus>();
  /** The upstream's state changed: series said worse than it are told their own again at the next call. */
  private resay = false;
  /** When what is not `live` was last said to everyone it concerns (see STATUS_REPEAT_MS). */
  private saidAt: number;
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
    /** Monotonic ms (the repeats' clock). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.saidAt = now();
    this.snapshots = new SnapshotCache(snapshotLimits);
    this.statusJsonOf = this.statusMessages();
    this.statusJson = this.statusJsonOf.reconnecting;
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
    this.statusJsonOf = this.statusMessages();
    this.setStatus(this.upstream, [...this.seriesStates.values()]);
  }

  /**
   * Called with every status tick (a second or less apart), changed or not: the upstream's state, and
   * the series whose clients read other than it (`stale` while the exchange sends nothing on their
   * stream though their connection delivers others: before, every client of such a series read `live`
   * through the freeze, an attacker-style probe, 242 s; `reconnecting` while their connection is down
   * and others are up: before, every chart read `reconnecting`). A series reads the worse of its own
   * and the upstream's. Both change in one step so each client hears its final state once: the status topic when the upstream's changed, then a series' topic where its clients'
   * state differs from what they last heard (set apart, one change re-said the other's old list: a
   * series read `reconnecting` then `live` at once, or `live` between `stale` and `reconnecting`).
   */
  setStatus(state: UpstreamState, list: Iterable<SeriesStatus>): void {
    const next = new Map<string, SeriesStatus>();
    for (const s of list) next.set(s.id.key, s);
    const touched = new Map<string, { id: SeriesId; heard: string }>();
    for (const [key, s] of this.seriesStates) touched.set(key, { id: s.id, heard: this.statusFor(s.id) });
    for (const [key, s] of next) if (!touched.has(key)) touched.set(key, { id: s.id, heard: this.statusFor(s.id) });
    this.seriesStates = next;
    this.upstream = state;
    const json = this.statusJsonOf[state];
    const wholeChanged = json !== this.statusJson;
    const said = new Set<string>();
    if (wholeChanged) {
      this.statusJson = json;
      const n = this.publisher?.subscribers(STATUS_TOPIC) ?? 0;
      if (n > 0) this.publisher!.publish(STATUS_TOPIC, json, n);
    } else if (this.resay) {
      // Said again a tick later: the status topic's later shards (over 1,024 sockets) go out in later
      // turns than a series' topic, and a client there read `stale`, then `live`, for good (a review).
      for (const [key, s] of next) {
        if (RANK[s.state] <= RANK[state]) continue;
        this.publishStatus(s.id);
        said.add(key);
      }
    }
    for (const [key, t] of touched) {
      if (said.has(key)) continue;
      const heard = wholeChanged ? json : t.heard;
      if (this.statusFor(t.id) !== heard) this.publishStatus(t.id);
    }
    const worse = [...next.values()].some((s) => RANK[s.state] > RANK[state]);
    this.resay = wholeChanged && worse;
    const now = this.now();
    if (wholeChanged) this.saidAt = now;
    else if (now - this.saidAt >= STATUS_REPEAT_MS) {
      this.saidAt = now;
      this.repeat(next, state, said);
      // The status topic's later shards go out in later turns: series worse than it are said again next.
      if (state !== 'live' && worse) this.resay = true;
    }
  }

  /** Says again what is not `live`: the upstream's state to every client, a series' worse one on its topic. */
  private repeat(next: ReadonlyMap<string, SeriesStatus>, state: UpstreamState, said: ReadonlySet<string>): void {
    if (state !== 'live') {
      const n = this.publisher?.subscribers(STATUS_TOPIC) ?? 0;
      if (n > 0) this.publisher!.publish(STATUS_TOPIC, this.statusJson, n);
    }
    for (const [key, s] of next) if (RANK[s.state] > RANK[state] && !said.has(key)) this.publishStatus(s.id);
  }

  /** The `status` a client of `id` is told: the worse of the upstream's and its series' own. */
  statusFor(id: SeriesId): string {
    const own = this.seriesStates.get(id.key)?.state;
    return own !== undefined && RANK[own] > RANK[this.upstream] ? this.statusJsonOf[own] : this.statusJson;
  }

  private publishStatus(id: SeriesId): void {
    const topic = klineTopic(id);
    const n = this.publisher?.subscribers(topic) ?? 0;
    if (n > 0) this.publisher!.publish(topic, this.statusFor(id), n);
  }

  private statusMessages(): Record<UpstreamState, string> {
    return { live: this.statusMessage('live'), stale: this.statusMessage('stale'), reconnecting: this.statusMessage('reconnecting'), ended: this.statusMessage('ended') };
  }

  private statusMessage(upstream: UpstreamState): string {
    return JSON.stringify({ type: 'status', upstream, source: this.source });
  }
}
