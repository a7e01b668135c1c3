import type { Bar } from '../domain/bar.ts';
import { klineTopic, type SeriesId } from '../domain/series-id.ts';
import { historicalMessage, liveCandleMessage } from '../domain/wire.ts';
import type { SeriesWindow } from '../store/series-window.ts';

/** The one thing the hub needs from uWebSockets.js: topic publish (fan-out happens in native code). */
export interface Publisher {
  /** `subscribers` is the count the hub just read, so the publisher need not ask again. */
  publish(topic: string, message: string, subscribers: number): boolean;
  /** Subscribers of a topic now; a message nobody would receive is never serialized. */
  subscribers(topic: string): number;
}

export const STATUS_TOPIC = 'status';

export type UpstreamState = 'live' | 'reconnecting' | 'stale';

interface Snapshot {
  version: number;
  json: string;
  /** The same message as UTF-8 bytes: every client of a storm gets this one buffer, not a fresh conversion. */
  bytes: Buffer;
}

/**
 * Fan-out of every series to its subscribers. Each update is serialized once and published to the
 * series' topic; the `historical` snapshot is serialized once per window version, not once per client,
 * so a connect storm costs one JSON.stringify per series.
 */
export class Hub {
  private publisher: Publisher | undefined;
  private readonly snapshots = new Map<string, Snapshot>();
  /** Sockets following each derived series topic. */
  private readonly followers = new Map<string, number>();
  /** Bumped by every follow and unfollow. */
  followVersion = 0;
  private statusJson: string;

  constructor(
    private readonly historyOnConnect: number,
    private readonly source: string,
  ) {
    this.statusJson = this.statusMessage('reconnecting');
  }

  attach(publisher: Publisher | undefined): void {
    this.publisher = publisher;
  }

  /** Called after the store's window already holds `bar`, so a snapshot taken now includes it. */
  publishBar(id: SeriesId, bar: Bar): void {
    const topic = klineTopic(id);
    const n = this.publisher?.subscribers(topic) ?? 0;
    if (n > 0) this.publisher!.publish(topic, liveCandleMessage(id.symbol, id.interval, bar), n);
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

  /** The `historical` message for a series, cached by window version (as text and as bytes). */
  snapshot(id: SeriesId, window: SeriesWindow): Snapshot {
    const hit = this.snapshots.get(id.key);
    if (hit && hit.version === window.version) return hit;
    const json = historicalMessage(id.symbol, id.interval, window.last(this.historyOnConnect));
    const snap = { version: window.version, json, bytes: Buffer.from(json) };
    this.snapshots.set(id.key, snap);
    return snap;
  }

  setUpstream(state: UpstreamState): void {
    const json = this.statusMessage(state);
    if (json === this.statusJson) return;
    this.statusJson = json;
    const n = this.publisher?.subscribers(STATUS_TOPIC) ?? 0;
    if (n > 0) this.publisher!.publish(STATUS_TOPIC, json, n);
  }

  get status(): string {
    return this.statusJson;
  }

  private statusMessage(upstream: UpstreamState): string {
    return JSON.stringify({ type: 'status', upstream, source: this.source });
  }
}
