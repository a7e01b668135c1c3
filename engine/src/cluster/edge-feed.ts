import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { Hub } from '../broadcast/hub.ts';
import type { BarStore } from '../store/bar-store.ts';
import { decodeBar, splitEntry } from './bar-codec.ts';
import { type SeriesKeys, seriesKeys } from './cluster-keys.ts';
import type { EdgePositions } from './edge-positions.ts';
import { type FollowerSnapshot, SeriesFollower } from './series-follower.ts';
import { SeriesReader } from './series-reader.ts';
import { ChannelSubscriptions } from './channel-subscriptions.ts';
import { EPOCH_RE } from './resume-request.ts';
import { createLogDedup } from '../log-dedup.ts';

/**
 * What a feed follows for each id: its log's Redis names, how its members decode, and where applied
 * items go. Bars of a series (EdgeFeed), or the points of a derived series instance (edge-series.ts).
 */
export interface FeedLog<T> {
  keys(id: SeriesId): SeriesKeys;
  decode(member: string): T | undefined;
  /** A new baseline; `reloaded` when the id had loaded before (its clients may have a hole now). */
  reset(id: SeriesId, snap: FollowerSnapshot<T>, reloaded: boolean): void;
  /** The next update, in offset order, exactly once. */
  apply(id: SeriesId, offset: number, item: T): void;
}

export interface LogFeedConfig {
  /** Commands (snapshot and history reads, the periodic position check). */
  redis: Redis;
  /** A connection of its own for pub/sub (ioredis resubscribes it after a reconnect). */
  subscriber: Redis;
  keyPrefix?: string;
  bufferSize: number;
  /** Oldest history entry a repair may use (the resume bound). */
  historyMaxAgeMs: number;
  /** How often stored positions are compared with the applied ones (a loss at the tail shows no hole). */
  checkEveryMs?: number;
  retryDelayMs?: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
  onMalformed?(n: number): void;
  /** A followed id has a new baseline (its first snapshot, or a reload): whoever waits for it to load can look now. */
  onReset?(id: SeriesId): void;
}

export interface EdgeFeedConfig extends LogFeedConfig {
  store: BarStore;
  hub: Hub;
  positions: EdgePositions;
  /** Every bar applied, after the window and the hub have it. */
  onBar?(id: SeriesId, bar: Bar): void;
}

/** A series' bars: into the local hot window, the edge's positions and the hub. */
function barLog(cfg: EdgeFeedConfig): FeedLog<Bar> {
  const { store, hub, positions } = cfg;
  return {
    keys: (id) => seriesKeys(id, cfg.keyPrefix),
    decode: decodeBar,
    reset: (id, snap, reloaded) => {
      store.release(id);
      store.upsert(id, snap.bars);
      positions.reset(id, snap);
      // Its clients may have a hole now: they get the new baseline.
      if (reloaded) hub.publishSnapshot(id, store.window(id), positions.position(id));
      else hub.dropSnapshot(id);
    },
    apply: (id, offset, bar) => {
      store.upsert(id, [bar]);
      hub.publishBar(id, bar, positions.record(id, offset, bar));
      cfg.onBar?.(id, bar);
    },
  };
}

/**
 * An edge's view of the cluster: one SeriesFollower per log it follows, fed by the log's Redis
 * channel, with snapshot and history reads on the command connection; applied updates go where the
 * FeedLog says, in offset order. Owns its subscriptions and timers; `stop()` releases them.
 */
export class LogFeed<T> {
  private readonly followers = new Map<string, { id: SeriesId; follower: SeriesFollower<T>; loaded: boolean; epoch: string }>();
  private readonly byChannel = new Map<string, string>();
  private readonly reader: SeriesReader;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly subscriptions: ChannelSubscriptions;
  /**
   * One line per period for reloads, however many series: clients asking for series at the leader's
   * cap have it free and write them again, each a new epoch (an attacker-style probe: 353 lines in 90 s).
   */
  private readonly reloadLog = createLogDedup({ warn: (msg) => this.cfg.log?.('warn', msg) });
  private checkTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** A position check is unanswered (see check). */
  private checking = false;
  repairs = 0;
  reloads = 0;

  constructor(
    private readonly cfg: LogFeedConfig,
    private readonly target: FeedLog<T>,
  ) {
    this.reader = new SeriesReader(cfg.redis, cfg.keyPrefix, cfg.onMalformed);
    cfg.subscriber.on('message', this.onMessage);
    // After a reconnect, what was published meanwhile is lost, silently: catch up from the history.
    this.subscriptions = new ChannelSubscriptions(cfg.subscriber, () => {
      for (const f of this.followers.values()) f.follower.onGap();
    });
    const every = cfg.checkEveryMs ?? 2000;
    this.checkTimer = setInterval(() => void this.check(), every);
    this.checkTimer.unref();
  }

  private readonly onMessage = (channel: string, text: string) => {
    const key = this.byChannel.get(channel);
    const f = key === undefined ? undefined : this.followers.get(key);
    if (!f) return;
    const m = splitEntry(text, this.target.decode);
    const offset = m ? Number(m.second) : NaN;
    // An epoch no leader makes is malformed: taken for a new one, each such message reloaded the series
    // and sent its clients a fresh `historical` (a Redis-fault review: 97 in 5 s).
    if (!m || !Number.isSafeInteger(offset) || !EPOCH_RE.test(m.first)) return void this.cfg.onMalformed?.(1);
    // A throw here would be ioredis's uncaught exception: the process would exit.
    try {
      f.follower.onMessage(m.first, offset, m.bar);
    } catch (e) {
      this.applyFailed(f, e);
    }
  };

  /** Series with a reload pending after an update that could not be applied (one each, however many failed meanwhile). */
  private readonly resyncing = new Set<string>();

  /** An update or snapshot that could not be applied: said (once per period), and the series read again from Redis. */
  private applyFailed(f: { id: SeriesId; follower: SeriesFollower<T> }, e: unknown): void {
    this.reloadLog.warn('apply', `${f.id.key}: an update could not be applied (${(e as Error)?.message ?? String(e)}); loading it again from Redis`);
    // After the retry delay, once per series: a fault that recurs must not turn into a loop of snapshot reads.
    if (this.resyncing.has(f.id.key)) return;
    this.resyncing.add(f.id.key);
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.resyncing.delete(f.id.key);
      if (!this.stopped && this.followers.get(f.id.key) === f) f.follower.resync();
    }, this.cfg.retryDelayMs ?? 500);
    this.timers.add(t);
  }

  /** Follows these series: subscribe first, then load (so nothing falls between). */
  async follow(ids: readonly SeriesId[]): Promise<void> {
    const fresh = ids.filter((id) => !this.followers.has(id.key));
    if (!fresh.length) return;
    const entries = new Map<string, unknown>();
    for (const id of fresh) {
      const keys = this.target.keys(id);
      this.byChannel.set(keys.channel, id.key);
      const entry = { id, loaded: false, epoch: '', follower: undefined as unknown as SeriesFollower<T> };
      // A read answered after `unfollow` belongs to nobody (it must not refill a released window).
      const current = () => this.followers.get(id.key) === entry;
      entry.follower = new SeriesFollower({
        requestSnapshot: (ticket) =>
          this.read(
            entry,
            current,
            () => this.reader.snapshotOf(keys, this.cfg.bufferSize, this.target.decode),
            (snap) => entry.follower.onSnapshot(ticket, snap),
          ),
        requestHistory: (ticket, epoch, since) =>
          this.read(
            entry,
            current,
            () => this.reader.historyOf(keys, epoch, since, this.cfg.historyMaxAgeMs, this.target.decode),
            (r) => {
              this.repairs++;
              entry.follower.onHistory(ticket, r.ok ? { ok: true, updates: r.updates } : { ok: false });
            },
          ),
        reset: (snap) => {
          // A log that was written and is gone (Redis lost its data; the leader writes it anew, under a
          // new epoch): its clients keep what they have until then, not an empty `historical` first
          // (an attacker-style probe: every client of 400 at a Redis restart).
          if (entry.loaded && entry.epoch && !snap.epoch) return;
          // A log never written (no epoch) held nothing to lose: its first write is no reload to report.
          if (entry.loaded && entry.epoch) {
            this.reloads++;
            this.reloadLog.warn('reload', `${id.key}: reloaded from a snapshot (epoch ${snap.epoch || 'unwritten'}, offset ${snap.offset})`);
          }
          this.target.reset(id, snap, entry.loaded);
          entry.loaded = true;
          entry.epoch = snap.epoch;
          this.cfg.onReset?.(id);
        },
        apply: (offset, item) => this.target.apply(id, offset, item),
      });
      this.followers.set(id.key, entry);
      entries.set(id.key, entry);
    }
    try {
      await this.subscriptions.add(...fresh.map((id) => this.target.keys(id).channel));
    } catch (e) {
      // Not followed after all: a later follow of them starts over (none left registered, never
      // started). Only this call's entries: one unfollowed and followed again meanwhile is another's.
      for (const id of fresh) if (this.followers.get(id.key) === entries.get(id.key)) void this.unfollow(id);
      throw e;
    }
    for (const id of fresh) this.followers.get(id.key)?.follower.start();
  }

  /** Stops following a series (an on-demand one nobody watches): unsubscribed, its follower dropped. */
  async unfollow(id: SeriesId): Promise<void> {
    if (!this.followers.delete(id.key)) return;
    const { channel } = this.target.keys(id);
    this.byChannel.delete(channel);
    await this.subscriptions.remove(channel);
  }

  /** Whether this series is followed (its first snapshot loaded or not). */
  follows(id: SeriesId): boolean {
    return this.followers.has(id.key);
  }

  /**
   * Stops following a series, then frees what was kept of it (`free`) unless it was followed again
   * meanwhile (an unsubscribe answered late: freed then, the new follower's window went with it).
   */
  unfollowAndFree(id: SeriesId, free: (id: SeriesId) => void): Promise<void> {
    return this.unfollow(id).then(() => {
      if (!this.follows(id)) free(id);
    });
  }

  /** Whether this series is followed and has loaded its first snapshot. */
  isLoaded(id: SeriesId): boolean {
    return this.followers.get(id.key)?.loaded === true;
  }

  /**
   * Whether what this edge holds of the series was written by a leader: its last baseline had an epoch
   * (a log never written has none, and its first update reloads it). A new cluster whose leader has not
   * healed has no history to serve yet. A log Redis lost keeps the history this edge holds (see
   * `reset`): still written. Read off the follower, every edge went 503 and told its clients
   * `reconnecting` together while they served it, until the leader wrote every series again (a review: 20 s).
   */
  isWritten(id: SeriesId): boolean {
    return !!this.followers.get(id.key)?.epoch;
  }

  /** Whether every followed series has loaded its first snapshot. */
  get loaded(): boolean {
    for (const f of this.followers.values()) if (!f.loaded) return false;
    return true;
  }

  get size(): number {
    return this.followers.size;
  }

  /**
   * Runs a read for a followed series while it is followed (`alive`); a failed one is retried after a
   * delay (the follower waits for its answer), and said once per period. An answer that cannot be
   * applied is said too, and the series read again (not an unhandled rejection: the process would exit).
   */
  private read<V>(f: { id: SeriesId; follower: SeriesFollower<T> }, alive: () => boolean, run: () => Promise<V>, done: (v: V) => void): void {
    if (this.stopped || !alive()) return;
    run().then(
      (v) => {
        if (this.stopped || !alive()) return;
        try {
          done(v);
        } catch (e) {
          this.applyFailed(f, e);
        }
      },
      (e: unknown) => {
        if (this.stopped || !alive()) return;
        this.reloadLog.warn('read', `${f.id.key}: a read from Redis failed (${(e as Error)?.message ?? String(e)}); trying again`);
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.read(f, alive, run, done);
        }, this.cfg.retryDelayMs ?? 500);
        this.timers.add(t);
      },
    );
  }

  /**
   * Stored positions ahead of the applied ones (a loss at the tail): repair. Behind them in the same
   * epoch (the offset moved back under the edge, by a hand or a Redis going back to an older file):
   * loaded again, said once per period; held, every update up to the old offset was dropped as seen,
   * with /health ok and clients told `live` (a Redis-fault review: 40 s for 20 offsets back, ~37 min
   * for 1,000). Compared with the positions as they were when the read went: a message published after
   * the read may have been applied before its answer came. One pipelined round trip.
   */
  private async check(): Promise<void> {
    // One at a time: a hung Redis (paused, the connection open) answered none, and each tick queued
    // another pipeline of every series' HMGET behind them (a review).
    if (this.stopped || this.checking || !this.followers.size || this.cfg.redis.status !== 'ready') return;
    this.checking = true;
    const entries = [...this.followers.values()];
    const before = entries.map((e) => e.follower.position);
    const p = this.cfg.redis.pipeline();
    for (const e of entries) p.hmget(this.target.keys(e.id).pos, 'epoch', 'offset');
    try {
      const results = (await p.exec()) ?? [];
      entries.forEach((e, i) => {
        const [err, v] = results[i] ?? [];
        if (err || !Array.isArray(v)) return;
        const [epoch, offset] = v as Array<string | null>;
        const mine = e.follower.position;
        if (mine.phase !== 'live' || epoch === null) return;
        const then = before[i]!;
        if (then.phase === 'live' && epoch === then.epoch && epoch === mine.epoch && Number(offset) < then.offset) {
          this.reloadLog.warn('behind', `${e.id.key}: the stored offset went back (${offset} after ${then.offset} was applied, epoch ${epoch}); loading it again from Redis`);
          return e.follower.resync();
        }
        if (epoch !== mine.epoch || Number(offset) > mine.offset) e.follower.onGap();
      });
    } catch {
      // Redis unreachable: the next check (or the resubscribe) catches up.
    } finally {
      this.checking = false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.checkTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.cfg.subscriber.off('message', this.onMessage);
    this.subscriptions.stop();
    this.reloadLog.flush();
  }
}

/**
 * An edge's bar series: applied updates go to the local hot window, the edge's positions and the hub
 * (serialized once, native uWS fan-out), in offset order.
 */
export class EdgeFeed extends LogFeed<Bar> {
  constructor(cfg: EdgeFeedConfig) {
    super(cfg, barLog(cfg));
  }
}
