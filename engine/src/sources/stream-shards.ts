import { Observable, Subject } from 'rxjs';
import { ConnectLimiter } from './connect-limiter.ts';
import { ReconnectScout } from './reconnect-scout.ts';
import { MAX_STREAMS_PER_CONNECTION, StreamShard, type StreamShardOptions } from './stream-shard.ts';
import type { UpstreamEvent } from './upstream-event.ts';

export { MAX_STREAMS_PER_CONNECTION };

/**
 * How long a shard left with no stream stays open for new ones before it is closed: demand crossing
 * a connection's worth of streams back and forth opened and closed one each round, and used up the
 * exchange's connection attempts (a review: 250 in 97 s, then a reconnect waited 200 s).
 */
export const EMPTY_SHARD_GRACE_MS = 60_000;

/** A shard's options, less what the set gives each shard (its index, the shared limiter, the events). */
export interface StreamShardsOptions extends Omit<StreamShardOptions, 'index' | 'limiter' | 'scout' | 'emit' | 'maxStreams'> {
  maxStreamsPerConnection?: number;
  limiter?: ConnectLimiter;
  /** How long a shard left empty waits for streams before it closes (default EMPTY_SHARD_GRACE_MS). */
  emptyGraceMs?: number;
}

/**
 * Every upstream kline stream the engine follows, spread over connections of at most
 * `maxStreamsPerConnection` streams: a stream added goes to the first shard with room (a new shard
 * is opened when none has), a stream removed is unsubscribed from its shard, and a shard left with
 * nothing is closed once its grace is over (EMPTY_SHARD_GRACE_MS; down meanwhile, it waits for a
 * stream before it dials). While the exchange is out of reach one shard dials for all (ReconnectScout).
 * Events of every shard come out of `events$`; `close()` ends them all.
 */
export class StreamShards {
  private readonly eventsSubject = new Subject<UpstreamEvent>();
  readonly events$: Observable<UpstreamEvent> = this.eventsSubject.asObservable();
  private readonly shards: StreamShard[] = [];
  private readonly owner = new Map<string, StreamShard>();
  private readonly limiter: ConnectLimiter;
  private readonly scout = new ReconnectScout<StreamShard>();
  private readonly max: number;
  private nextIndex = 0;
  private closed = false;
  /** Shards left empty, closed when their grace ends unless given streams meanwhile. */
  private readonly emptied = new Map<StreamShard, NodeJS.Timeout>();

  constructor(private readonly opts: StreamShardsOptions) {
    this.limiter = opts.limiter ?? new ConnectLimiter();
    this.max = opts.maxStreamsPerConnection ?? MAX_STREAMS_PER_CONNECTION;
    if (!(this.max >= 1 && this.max <= MAX_STREAMS_PER_CONNECTION)) throw new TypeError(`StreamShards: maxStreamsPerConnection must be 1..${MAX_STREAMS_PER_CONNECTION}`);
  }

  /** Follows these streams (those already followed stay where they are). */
  add(streams: readonly string[]): void {
    if (this.closed) return;
    const byShard = new Map<StreamShard, string[]>();
    for (const s of streams) {
      if (this.owner.has(s)) continue;
      let shard = this.shards.find((x) => x.size + (byShard.get(x)?.length ?? 0) < this.max);
      if (!shard) shard = this.open();
      let list = byShard.get(shard);
      if (!list) byShard.set(shard, (list = []));
      list.push(s);
      this.owner.set(s, shard);
    }
    for (const [shard, list] of byShard) {
      clearTimeout(this.emptied.get(shard));
      this.emptied.delete(shard);
      shard.add(list);
    }
  }

  /** Stops following these streams; a shard left empty is closed after its grace. */
  remove(streams: readonly string[]): void {
    const byShard = new Map<StreamShard, string[]>();
    for (const s of streams) {
      const shard = this.owner.get(s);
      if (!shard) continue;
      this.owner.delete(s);
      let list = byShard.get(shard);
      if (!list) byShard.set(shard, (list = []));
      list.push(s);
    }
    for (const [shard, list] of byShard) {
      shard.remove(list);
      if (shard.size === 0 && !this.emptied.has(shard)) {
        const timer = setTimeout(() => this.closeEmpty(shard), this.opts.emptyGraceMs ?? EMPTY_SHARD_GRACE_MS);
        timer.unref();
        this.emptied.set(shard, timer);
      }
    }
  }

  private closeEmpty(shard: StreamShard): void {
    this.emptied.delete(shard);
    if (this.closed || shard.size > 0) return;
    // Its UNSUBSCRIBE needs no answer: closing the socket ends every subscription on it.
    shard.stop();
    this.shards.splice(this.shards.indexOf(shard), 1);
    this.eventsSubject.next({ type: 'closed', shard: shard.index });
  }

  has(stream: string): boolean {
    return this.owner.has(stream);
  }

  /** Streams followed now. */
  get size(): number {
    return this.owner.size;
  }

  /** The silence every connected shard with streams finds normal now (the least of theirs; 0 without one). */
  quietAllowanceMs(): number {
    let least: number | undefined;
    for (const s of this.shards) {
      if (s.size === 0 || !s.connected) continue;
      const ms = s.quietAllowanceMs();
      if (least === undefined || ms < least) least = ms;
    }
    return least ?? 0;
  }

  /** Each shard's streams and whether its socket is up. */
  stats(): Array<{ shard: number; streams: number; connected: boolean; silent: number }> {
    return this.shards.map((s) => ({ shard: s.index, streams: s.size, connected: s.connected, silent: s.silent }));
  }

  /** Streams the exchange went silent on while their connection delivered others, not heard since. */
  silentStreams(): string[] {
    return this.shards.flatMap((s) => (s.silent ? s.silentStreams() : []));
  }

  /** The streams of every connected shard that has gone silent as a whole (StreamShard.stale). */
  staleShardStreams(): string[] {
    return this.shards.flatMap((s) => (s.stale ? s.streams : []));
  }

  /** The streams of shard `index` (none once it is closed). */
  streamsOf(index: number): readonly string[] {
    return this.shards.find((s) => s.index === index)?.streams ?? [];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.emptied.values()) clearTimeout(t);
    this.emptied.clear();
    for (const s of this.shards) s.stop();
    this.shards.length = 0;
    this.owner.clear();
    this.eventsSubject.complete();
  }

  private open(): StreamShard {
    const { maxStreamsPerConnection: _max, limiter: _limiter, emptyGraceMs: _grace, ...shared } = this.opts;
    const shard = new StreamShard({ ...shared, index: this.nextIndex++, maxStreams: this.max, limiter: this.limiter, scout: this.scout, emit: (ev) => this.eventsSubject.next(ev) });
    this.shards.push(shard);
    return shard;
  }
}
