import type { Redis } from 'ioredis';
import type { SeriesId } from '../domain/series-id.ts';
import { type DemandOutcome, type DemandRefusal, NOT_SERVED_ON_DEMAND, type SeriesDemand, waitFor } from '../pipeline/series-demand.ts';
import { AddressRateLimit } from '../server/address-rate-limit.ts';
import type { DemandKeys } from './cluster-keys.ts';
import { DemandHolders } from './demand-holders.ts';
import { DEMAND_STALE_MS, demandNudge, parseServed } from './demand-member.ts';
import { touch, unwatch, watch } from '../pipeline/watch-count.ts';
import { ChannelSubscriptions } from './channel-subscriptions.ts';

export interface EdgeDemandConfig {
  redis: Redis;
  /**
   * A pub/sub connection: the leader's answers are read when it names them on `keys.answered`, and
   * the edge's poll (every TICK_MS) only makes up for a message lost. Without it, the poll alone.
   */
  subscriber?: Redis;
  keys: DemandKeys;
  /** This edge's NODE_ID: it holds the series it asked for under it, and lets go of them at once. */
  node: string;
  /** What the exchange trades and which intervals exist (the leader's markets, read from Redis). */
  catalog: { isTrading(symbol: string): boolean; isInterval(interval: string): boolean; intervals(): readonly string[] };
  /** Series this edge follows for good (configured): always live once loaded. */
  configured(id: SeriesId): boolean;
  feed: { follow(ids: readonly SeriesId[]): Promise<void>; unfollowAndFree(id: SeriesId, free: (id: SeriesId) => void): Promise<void>; isLoaded(id: SeriesId): boolean; isWritten(id: SeriesId): boolean };
  /** Frees what the edge kept for a series it stopped following (window, positions, caches). */
  free(id: SeriesId): void;
  /** A followed on-demand series ended for good (its symbol stopped trading): its clients are told and closed. */
  ended?(id: SeriesId, code: string, message: string): void;
  /** At most this many on-demand series outstanding on this edge (waiting or followed). */
  maxSeries: number;
  /** A followed series nobody on this edge held for this long is let go. */
  idleMs: number;
  /** How often wanted series are touched in Redis (the leader lets go of what nobody touched for a few periods). */
  touchEveryMs: number;
  /** How long a client waits for the leader's answer before it is refused (a failover fits in it). */
  answerTimeoutMs: number;
  /** New series one client address may ask for per minute (burst: half of it). */
  perMinute?: number;
  /** The same budget kept in Redis for the whole cluster (SharedRateLimit), taken after this edge's own. */
  sharedStarts?: { take(address: string): Promise<number> };
  /** False while no ingest node leads (LeaderPresence): a new series is refused at once rather than waited for. */
  leaderPresent?(): boolean;
  log?: (level: 'info' | 'warn', msg: string) => void;
  now?: () => number;
  /** How often asks and followed series are looked at without being told (default TICK_MS). */
  pollMs?: number;
}

const rateLimited = (wait: number): DemandOutcome => ({ ok: false, code: 'rate_limited', retryAfterSec: wait, message: `too many new series from this address (ON_DEMAND_PER_MIN); retry in ${wait} s` });

const STOPPED: DemandOutcome = { ok: false, code: 'series_capacity', message: 'server shutting down' };

/** What an ask whose client went before its charge settled comes to (nobody reads it). */
const GONE: DemandOutcome = { ok: false, code: 'series_capacity', message: 'the client went before its series was asked for' };

/**
 * How long a followed series whose snapshot held no log yet (never written: no epoch) waits for its
 * first write before its clients are served what there is. The leader answers `live` once the window
 * is in Redis, so an unwritten log then is an empty one (a symbol with no bars yet), or an answer left
 * from an earlier hold; served at once, its clients got an empty `historical`, then a second one when
 * the window came (an attacker-style probe: up to half of 450 clients of cold symbols).
 */
export const UNWRITTEN_GRACE_MS = 5_000;

/**
 * How often asks look for the leader's answer, and followed series for their snapshot, when nothing
 * said so sooner (the leader's message on `keys.answered`, the feed's `loaded`).
 */
const TICK_MS = 50;

/** How often a served series whose answer is gone nudges the leader again (a nudge lost with a pub/sub connection). */
const RECHECK_NUDGE_MS = 5_000;

const NO_LEADER: DemandOutcome = { ok: false, code: 'no_leader', retryAfterSec: 5, message: 'no ingest node leads the cluster: the series cannot be started now; try again later' };
const REDIS_FULL: DemandOutcome = { ok: false, code: 'series_capacity', retryAfterSec: 10, message: "the cluster's Redis is full (its maxmemory): the series cannot be started now; try again later" };

/** Redis refused for want of memory (a MULTI's EXECABORT carries its commands' OOM errors). */
function isOom(err: unknown): boolean {
  const e = err as { message?: unknown; previousErrors?: Array<{ message?: unknown }> } | undefined;
  return [e?.message, ...(e?.previousErrors ?? []).map((p) => p?.message)].some((m) => typeof m === 'string' && m.startsWith('OOM'));
}

interface Entry {
  readonly id: SeriesId;
  state: 'asked' | 'following' | 'live';
  watchers: number;
  lastUsed: number;
  askedAt: number;
  /** When its follower first held a snapshot with no log written (see UNWRITTEN_GRACE_MS). */
  unwrittenSince?: number;
  /** This edge is among the series' holders in Redis (from the ask until it lets go). */
  holding: boolean;
  /**
   * Asked for again after this edge let go, while it still follows the series: the leader may have
   * released it and refuse it now (at its caps), so its clients wait for the answer as a new ask's do.
   * Served at once, they got the snapshot of a series nobody wrote any more, and no update ever (an
   * attacker-style probe: 857 of 2,750 clients at the cap), while the touches had the leader refuse
   * it again at every scan.
   */
  confirming?: boolean;
  /**
   * Served, and the leader's answer for it is gone (it dropped the series: this edge's touches went
   * stale), since when this edge last nudged it: asked again while its clients are served on. Only a
   * refusal ends it (see `recheck`); a Redis that lost its answers, or no leader for a while, does not.
   */
  recheckNudgedAt?: number;
  /** The client address that first asked (the leader's waited-for loads take turns by it); '' when none. */
  readonly asker: string;
  waiters: Array<(o: DemandOutcome) => void>;
}

/** An ask, or a series asked for again (confirming), waiting for the leader's answer. */
const awaitsAnswer = (e: Entry | undefined): e is Entry => e !== undefined && (e.state === 'asked' || e.confirming === true);

/**
 * SeriesDemand on an edge (ROLE=edge): a series it does not follow is asked of the cluster's leader
 * through Redis (the wanted set, touched while clients hold it, and a nudge on the demand channel);
 * once the leader answers `live` the edge follows the series like a configured one, and its clients
 * get their snapshot. Everything is checked here first: a symbol the exchange does not trade, an
 * unknown interval, an address asking too fast or an edge at its cap never reach Redis.
 */
export class EdgeDemand implements SeriesDemand {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private readonly starts: AddressRateLimit | undefined;
  /** New series whose address is being charged in the cluster's bucket (sharedStarts): bounded by the cap's asks in flight. */
  private readonly taking = new Map<string, Promise<DemandOutcome | undefined>>();
  /**
   * Asks of each series waiting for a charge (`after`), and how many of their clients went meanwhile:
   * their release found no entry to count out, and the ask, made later, held the series for good (an
   * attacker-style probe pinned every place of MAX_ON_DEMAND_SERIES with quick closes).
   */
  private readonly charged = new Map<string, { asks: number; gone: number }>();
  private readonly now: () => number;
  private readonly holders: DemandHolders;
  private lastTouch = 0;
  private ticking = false;
  /** A step was asked for while one ran (it runs again after), or is queued (see `soon`). */
  private again = false;
  private queued = false;
  private readonly answers: ChannelSubscriptions | undefined;
  private stopped = false;

  constructor(private readonly cfg: EdgeDemandConfig) {
    this.now = cfg.now ?? Date.now;
    this.holders = new DemandHolders({ redis: cfg.redis, keys: cfg.keys, node: cfg.node, staleMs: DEMAND_STALE_MS, now: this.now });
    this.starts = cfg.perMinute ? new AddressRateLimit({ perMinute: cfg.perMinute, burst: Math.max(1, Math.ceil(cfg.perMinute / 2)), now: this.now }) : undefined;
    // Each cold ask waits for up to two ticks (the leader's answer, then the loaded snapshot): at 200 ms
    // they were most of an edge's 0.5 s to a first `historical` (ROLE=all: 50 ms). A tick without
    // asks reads nothing from Redis.
    this.timer = setInterval(() => void this.tick(), cfg.pollMs ?? TICK_MS);
    this.timer.unref();
    if (cfg.subscriber) {
      cfg.subscriber.on('message', this.onAnswered);
      this.answers = new ChannelSubscriptions(cfg.subscriber);
      void this.answers.add(cfg.keys.answered).catch(() => undefined); // the poll answers meanwhile
    }
  }

  /** The leader answered a series: looked at now if this edge waits for it (every edge hears every answer). */
  private readonly onAnswered = (channel: string, key: string) => {
    if (channel === this.cfg.keys.answered && awaitsAnswer(this.entries.get(key))) this.soon();
  };

  /** The feed loaded a series (its snapshot, or a new baseline): its waiting clients are served now, not at the next tick. */
  loaded(id: SeriesId): void {
    const w = this.configuredWaits.get(id.key);
    if (w) {
      this.configuredWaits.delete(id.key);
      for (const resolve of w.waiters.splice(0)) resolve({ ok: true });
    }
    if (this.entries.get(id.key)?.state === 'following') this.soon();
  }

  /**
   * Clients of configured series not loaded yet (the edge just started: its snapshots are being read),
   * by series: served once `loaded`, or what there is at the answer's deadline. Served at once, a client
   * got a `historical` of 0 bars and never the history (a review). One entry per configured series.
   */
  private readonly configuredWaits = new Map<string, { since: number; waiters: Array<(o: DemandOutcome) => void> }>();

  /** A step at the end of this turn (one for any number of reasons given in it), or right after the one running. */
  private soon(): void {
    if (this.stopped) return;
    if (this.ticking) return void (this.again = true);
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      void this.tick();
    });
  }

  /** On-demand series on this edge, by state. */
  counts(): { asked: number; following: number; live: number } {
    const c = { asked: 0, following: 0, live: 0 };
    for (const e of this.entries.values()) c[e.state]++;
    return c;
  }

  /** Clients holding the series on this edge (0 when it has none: not followed, or ended). */
  watching(id: SeriesId): number {
    return this.entries.get(id.key)?.watchers ?? 0;
  }

  /** Not one this edge let go of (it may be followed still, but nobody may write it any more): asked for again first (see `confirming`). */
  isLive(id: SeriesId): boolean {
    if (this.cfg.configured(id)) return this.cfg.feed.isLoaded(id);
    const e = this.entries.get(id.key);
    return e?.state === 'live' && e.holding && !e.confirming;
  }

  /** `asker`: see SeriesDemand (here: an address charged already, when its charge was taken in Redis). */
  want(id: SeriesId, address?: string, asker = address, waiting?: () => void, left?: AbortSignal): Promise<DemandOutcome> {
    if (this.cfg.configured(id)) {
      if (this.cfg.feed.isLoaded(id)) return Promise.resolve({ ok: true });
      let w = this.configuredWaits.get(id.key);
      if (!w) this.configuredWaits.set(id.key, (w = { since: this.now(), waiters: [] }));
      waiting?.();
      return waitFor(w.waiters, left);
    }
    const { catalog } = this.cfg;
    if (!catalog.isTrading(id.symbol)) return Promise.resolve({ ok: false, code: 'symbol_not_trading', message: `symbol ${id.symbol} is not trading on the exchange` });
    if (!catalog.isInterval(id.interval)) return Promise.resolve({ ok: false, code: 'unknown_interval', message: `unknown interval '${id.interval}'; valid intervals: ${catalog.intervals().join(', ')}` });
    let e = this.entries.get(id.key);
    if (!e) {
      // A series being charged to its first asker's address (below) is joined, free, as a started one
      // is; refused there, it is asked for again on this one's own address.
      const charging = this.taking.get(id.key);
      if (charging) return this.after(charging, id, address, undefined, waiting, left);
      // None served on demand: said plainly, before the rate (as ROLE=all's lifecycle does).
      if (this.cfg.maxSeries === 0) return Promise.resolve(NOT_SERVED_ON_DEMAND);
      if (this.cfg.leaderPresent?.() === false) return Promise.resolve(NO_LEADER);
      const wait = address !== undefined && this.starts ? this.starts.take(address) : 0;
      if (wait > 0) return Promise.resolve(rateLimited(wait));
      // The cluster's bucket for the address (every edge's), then asked again as charged.
      if (address !== undefined && this.cfg.sharedStarts) {
        const t = this.cfg.sharedStarts.take(address).then((w): DemandOutcome | undefined => {
          if (this.taking.get(id.key) === t) this.taking.delete(id.key);
          return w > 0 ? rateLimited(w) : undefined;
        });
        this.taking.set(id.key, t);
        return this.after(t, id, undefined, address, waiting, left);
      }
      if (this.entries.size >= this.cfg.maxSeries && !this.makeRoom()) {
        return Promise.resolve({ ok: false, code: 'series_capacity', message: `this edge serves at most ${this.cfg.maxSeries} on-demand series (MAX_ON_DEMAND_SERIES); try again later` });
      }
      const t = this.now();
      e = { id, state: 'asked', watchers: 0, lastUsed: t, askedAt: t, holding: false, asker: asker ?? '', waiters: [] };
      this.entries.set(id.key, e);
    }
    // A series this edge let go of but still follows is held again, and served once the leader says
    // it is live (it may have released it, and may refuse it now).
    if (!e.holding) {
      this.ask(e);
      if (e.state !== 'asked') {
        e.confirming = true;
        e.askedAt = this.now();
      }
    }
    watch(e, this.now());
    if (e.state === 'live' && !e.confirming) return Promise.resolve({ ok: true });
    waiting?.();
    return waitFor(e.waiters, left);
  }

  /**
   * What a charge in the cluster's bucket came to: the series asked for as charged, or the refusal
   * (for a joiner, `address` given: the series asked for again on its own address). `asker`: the
   * charged address, the one the leader's queue turns by.
   */
  private after(charging: Promise<DemandOutcome | undefined>, id: SeriesId, address?: string, asker?: string, waiting?: () => void, left?: AbortSignal): Promise<DemandOutcome> {
    const pending = this.charged.get(id.key) ?? { asks: 0, gone: 0 };
    pending.asks++;
    this.charged.set(id.key, pending);
    return charging.then((refused) => {
      // Watches are counted per series, not per client: any one of its clients that went stands for this one.
      pending.asks--;
      const gone = pending.gone > 0;
      if (gone) pending.gone--;
      if (pending.asks === 0) this.charged.delete(id.key);
      if (this.stopped) return STOPPED;
      if (gone) return GONE;
      if (!refused) return this.want(id, undefined, asker, waiting, left);
      return address === undefined ? refused : this.want(id, address, undefined, waiting, left);
    });
  }

  touch(id: SeriesId): void {
    touch(this.entries.get(id.key), this.now());
  }

  release(id: SeriesId): void {
    const e = this.entries.get(id.key);
    if (e) return unwatch(e, this.now());
    // Its ask still waits for its charge: made then, it is not made (see `charged`).
    const waiting = this.charged.get(id.key);
    if (waiting && waiting.gone < waiting.asks) waiting.gone++;
  }

  /** The symbol stopped trading (the leader's markets say so): its on-demand series end here, clients told why. */
  endSymbol(symbol: string, message: string): void {
    for (const e of [...this.entries.values()]) {
      if (e.id.symbol !== symbol) continue;
      if (e.state !== 'asked') this.cfg.ended?.(e.id, 'symbol_not_trading', message);
      this.end(e, { ok: false, code: 'symbol_not_trading', message });
    }
  }

  /**
   * The leader's answer for a series this edge serves is gone (it dropped the series): the leader is
   * nudged (again every RECHECK_NUDGE_MS while it stays gone), and its clients are served on meanwhile;
   * a refusal then ends it for them, told why (see `end`), an answer `live` ends the recheck.
   */
  private recheck(e: Entry, t: number): void {
    if (e.recheckNudgedAt !== undefined && t - e.recheckNudgedAt < RECHECK_NUDGE_MS) return;
    e.recheckNudgedAt = t;
    void this.cfg.redis.publish(this.cfg.keys.demand, demandNudge(e.id.key, e.asker)).catch(() => undefined); // the leader's scan finds it all the same
  }

  /**
   * Adds the series to the wanted set, this edge to its holders, and nudges the leader with the
   * address that asked (its load takes turns by it there: see demandNudge).
   */
  private ask(e: Entry): void {
    const { redis, keys } = this.cfg;
    e.holding = true;
    void this.holders
      .touch(redis.multi(), [e.id.key])
      .publish(keys.demand, demandNudge(e.id.key, e.asker))
      .exec()
      .catch((err: unknown) => {
        // Redis full (noeviction) took nothing of it: its clients waited a minute for "not started in
        // time", nothing saying why (an operator's review). Unreachable: the next touch adds it.
        if (isOom(err) && awaitsAnswer(e)) this.end(e, REDIS_FULL);
      });
  }

  /**
   * This edge lets go of the series in the cluster: the leader releases it at once if no other edge
   * holds it (under its caps it no longer counts), rather than once the touches went stale.
   */
  private letGo(e: Entry): void {
    if (!e.holding) return;
    e.holding = false;
    void this.holders.release(e.id.key).catch(() => undefined); // Redis unreachable: the touch goes stale instead
  }

  /** Drops the least recently used on-demand series nobody here holds; false if there is none. */
  private makeRoom(): boolean {
    let lru: Entry | undefined;
    for (const e of this.entries.values()) if (e.watchers === 0 && e.waiters.length === 0 && (!lru || e.lastUsed < lru.lastUsed)) lru = e;
    if (lru) this.end(lru, { ok: false, code: 'series_capacity', message: 'series released to make room' });
    return lru !== undefined;
  }

  private end(e: Entry, outcome: DemandOutcome): void {
    if (this.entries.get(e.id.key) !== e) return;
    // Clients served before (none, normally: it was let go of as nobody held it) are told too.
    if ((e.confirming || e.recheckNudgedAt !== undefined) && !outcome.ok && e.state === 'live') this.cfg.ended?.(e.id, outcome.code, outcome.message);
    this.entries.delete(e.id.key);
    this.letGo(e);
    for (const w of e.waiters.splice(0)) w(outcome);
    if (e.state !== 'asked') void this.cfg.feed.unfollowAndFree(e.id, this.cfg.free);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.ticking) return;
    this.ticking = true;
    try {
      await this.step();
    } finally {
      this.ticking = false;
      if (this.again) {
        this.again = false;
        this.soon();
      }
    }
  }

  /** Whether a loaded series' log has been written, or has had its grace to be (UNWRITTEN_GRACE_MS). */
  private written(e: Entry, t: number): boolean {
    if (this.cfg.feed.isWritten(e.id)) return true;
    e.unwrittenSince ??= t;
    return t - e.unwrittenSince >= UNWRITTEN_GRACE_MS;
  }

  private async step(): Promise<void> {
    const t = this.now();
    const { redis, keys } = this.cfg;
    for (const [key, w] of this.configuredWaits) {
      if (t - w.since < this.cfg.answerTimeoutMs) continue;
      this.configuredWaits.delete(key);
      for (const resolve of w.waiters.splice(0)) resolve({ ok: true });
    }
    for (const e of [...this.entries.values()]) {
      if (e.state !== 'asked' && e.watchers === 0 && t - e.lastUsed >= this.cfg.idleMs) this.end(e, { ok: false, code: 'series_capacity', message: 'series released' });
      else if (e.state === 'following' && !e.confirming && this.cfg.feed.isLoaded(e.id) && this.written(e, t)) {
        e.state = 'live';
        for (const w of e.waiters.splice(0)) w({ ok: true });
      } else if (awaitsAnswer(e) && this.cfg.leaderPresent?.() === false) {
        this.end(e, NO_LEADER);
      } else if (awaitsAnswer(e) && t - e.askedAt > this.cfg.answerTimeoutMs) {
        this.end(e, { ok: false, code: 'series_capacity', message: 'the cluster did not start the series in time; try again' });
      }
    }
    try {
      const asked = [...this.entries.values()].filter((e) => e.recheckNudgedAt !== undefined || awaitsAnswer(e));
      if (asked.length) {
        const answers = await redis.mget(...asked.map((e) => keys.served + e.id.key));
        asked.forEach((e, i) => {
          const a = parseServed(answers[i] ?? null);
          if (!a || this.entries.get(e.id.key) !== e) return;
          if (a.state === 'refused') return this.end(e, { ok: false, code: a.code as DemandRefusal, message: a.message });
          if (e.recheckNudgedAt !== undefined) return void (e.recheckNudgedAt = undefined);
          if (e.confirming) {
            // Still followed: a live one serves its waiters now, a following one once loaded (above).
            e.confirming = false;
            if (e.state === 'live') for (const w of e.waiters.splice(0)) w({ ok: true });
            return;
          }
          e.state = 'following';
          void this.cfg.feed.follow([e.id]).catch((err: unknown) => {
            this.cfg.log?.('warn', `could not follow ${e.id.key}: ${(err as Error).message}`);
            // Refused now, not left waiting: the answer's deadline is over, and its clients sat on `loading` until they left.
            this.end(e, { ok: false, code: 'series_capacity', message: 'the edge could not follow the series; try again' });
          });
        });
      }
      // Held series (and those used within the last period, so a reload does not let go) stay wanted;
      // the rest this edge lets go of, while it still follows them for IDLE_SERIES_MS.
      if (t - this.lastTouch >= this.cfg.touchEveryMs) {
        this.lastTouch = t;
        const touched: Entry[] = [];
        for (const e of this.entries.values()) {
          if (e.watchers > 0 || e.state === 'asked' || t - e.lastUsed < this.cfg.touchEveryMs) {
            if (e.holding) touched.push(e);
          } else this.letGo(e);
        }
        if (touched.length) {
          const p = this.holders.touch(redis.pipeline(), touched.map((e) => e.id.key), t);
          // The answers of the series it serves, after the touch: the leader drops a series whose
          // touches went stale (this edge paused or cut off for a few seconds), and, held again, may
          // refuse it at its caps. Unread, its clients froze on `live`, told nothing (a review).
          const serving = touched.filter((e) => e.state !== 'asked' && !e.confirming);
          for (const e of serving) p.get(keys.served + e.id.key);
          const results = (await p.exec()) ?? [];
          const answers = results.slice(results.length - serving.length);
          serving.forEach((e, i) => {
            const [err, raw] = answers[i] ?? [null, null];
            if (err || this.entries.get(e.id.key) !== e || e.confirming) return;
            const a = parseServed((raw as string | null) ?? null);
            if (a?.state === 'refused') this.end(e, { ok: false, code: a.code as DemandRefusal, message: a.message });
            else if (!a) this.recheck(e, t);
            else e.recheckNudgedAt = undefined;
          });
        }
      }
    } catch {
      // Redis unreachable: answers and touches are read again on the next tick.
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.cfg.subscriber?.off('message', this.onAnswered);
    this.answers?.stop();
    for (const e of this.entries.values()) {
      this.letGo(e);
      for (const w of e.waiters.splice(0)) w(STOPPED);
    }
    for (const w of this.configuredWaits.values()) for (const resolve of w.waiters.splice(0)) resolve(STOPPED);
    this.configuredWaits.clear();
  }
}
