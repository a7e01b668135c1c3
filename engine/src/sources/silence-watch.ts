import { KlineFlow, quietAllowanceMs, streamIntervalMs, streamSilenceMs } from './quiet-allowance.ts';

/** The shard's options the watch reads (see StreamShardOptions), read at each use. */
export interface SilenceWatchOptions {
  staleAfterMs: number;
  deadAfterMs?: number;
  ended?: () => boolean;
}

/**
 * What a shard heard and when: it judges whether the current socket is stale, dead or fresh, and
 * which of its streams the exchange went silent on.
 */
export class SilenceWatch {
  private lastFrameAt: number;
  /** When a kline last came on this shard (or it was given its first streams): unlike lastFrameAt, a connect does not move it. */
  private lastKlineAt: number;
  /** When its current socket connected. */
  private connectedAt = 0;
  /** Its last socket was replaced for silence, and no kline came since: the replacement is as suspect. */
  private replacedSilent = false;
  /** A kline ever came on this shard. */
  private heard = false;
  /** Whether its klines come steadily (then a silence is a freeze) or sparsely (illiquid pairs). */
  private readonly flow: KlineFlow;
  /** Shortest interval among the wanted streams (a quiet stream still gets a kline per bucket). */
  private shortestMs: number | undefined;
  /** When each wanted stream last sent a kline, or was (re)subscribed: one the exchange went quiet on is asked for again. */
  private readonly heardOf = new Map<string, number>();
  /** Streams found silent (checkStreams) and not heard since: for /health and the metrics. */
  private readonly silentNow = new Set<string>();

  constructor(
    private readonly opts: SilenceWatchOptions,
    /** The streams the shard is to deliver. */
    private readonly wanted: ReadonlySet<string>,
    private readonly now: () => number,
  ) {
    this.lastFrameAt = this.now();
    this.lastKlineAt = this.lastFrameAt;
    this.flow = new KlineFlow(opts.staleAfterMs);
  }

  /** Streams found silent and not heard since. */
  get silentCount(): number {
    return this.silentNow.size;
  }

  silentStreams(): readonly string[] {
    return [...this.silentNow];
  }

  /**
   * Connected, and no kline for longer than the shard finds normal (STALE_AFTER_MS, at most 10 s, or
   * its quiet allowance), though connected for longer than that or replacing a socket found silent:
   * its series' clients are told `stale`. A socket the exchange keeps open and answers pings on but
   * sends nothing on is replaced, and its replacement as silent read `live` while the other shards
   * delivered (a review: 197 s of 200; then, until a second review, for the first 10 s of each
   * replacement). Measured from the last kline: a connect does not make a silent shard live. After a
   * drop, a new socket has until the stale time for its first kline (its clients read `live`).
   */
  stale(connected: boolean): boolean {
    if (!connected || this.wanted.size === 0 || this.opts.ended?.()) return false;
    const now = this.now();
    const staleMs = Math.min(10_000, this.opts.staleAfterMs);
    const normal = Math.max(staleMs, this.quietAllowanceMs());
    return now - this.lastKlineAt > normal && (this.replacedSilent || now - this.connectedAt > staleMs);
  }

  /** The silence that is normal for this shard now (see quiet-allowance.ts). */
  quietAllowanceMs(): number {
    return quietAllowanceMs(this.heard, this.flow.busy, this.shortestMs);
  }

  /** The wanted streams changed. */
  measure(): void {
    let shortest: number | undefined;
    for (const s of this.wanted) {
      const ms = streamIntervalMs(s);
      if (ms !== undefined && (shortest === undefined || ms < shortest)) shortest = ms;
    }
    this.shortestMs = shortest;
  }

  /** A shard that had nothing to deliver was given streams: its silence starts now. */
  restart(): void {
    this.lastFrameAt = this.lastKlineAt = this.now();
  }

  /** A stream is no longer wanted. */
  forget(stream: string): void {
    this.heardOf.delete(stream);
    this.silentNow.delete(stream);
  }

  /** A SUBSCRIBE of `stream` is being sent: its silence counts from the ask. */
  asked(stream: string): void {
    this.heardOf.set(stream, this.now());
  }

  /** A socket (not a rotation's) connected and became the shard's current one. */
  connected(): void {
    this.lastFrameAt = this.connectedAt = this.now();
    this.flow.bridge();
  }

  /** A kline of `stream` came at `at`. Only klines keep a socket fresh (see StreamShard's `delivering`). */
  kline(stream: string, at: number): void {
    this.heardOf.set(stream, at);
    if (this.silentNow.size) this.silentNow.delete(stream);
    this.lastFrameAt = this.lastKlineAt = at;
    this.replacedSilent = false;
    this.flow.note(at);
    this.heard = true;
  }

  /** How long the shard has been silent at `now`: since its last kline, connect or first streams. */
  silentMs(now: number): number {
    return now - this.lastFrameAt;
  }

  /**
   * The current socket, last heard of (a frame or a ping) at `heardAt`: `idle` (only checked for life,
   * and alive), `fresh` (its streams are to be checked), or `dead` or `stale` (to be replaced).
   */
  judge(heardAt: number, now: number): 'idle' | 'fresh' | 'dead' | 'stale' {
    const silent = now - this.lastFrameAt;
    // An empty shard's socket is only checked for life (it stands for `up` in the upstream's state).
    if ((this.wanted.size === 0 || this.opts.ended?.()) && now - heardAt <= (this.opts.deadAfterMs ?? 60_000)) return 'idle';
    // A quiet shard may go minutes without a kline; a socket that hears not even the exchange's ping
    // (every 20 s) for a minute is dead whatever it carries.
    const dead = now - heardAt > (this.opts.deadAfterMs ?? 60_000);
    if (!dead && (silent <= this.opts.staleAfterMs || silent <= this.quietAllowanceMs())) return 'fresh';
    return dead ? 'dead' : 'stale';
  }

  /** The socket was replaced for silence: its replacement is as suspect until a kline comes. */
  replacedForSilence(): void {
    this.replacedSilent = true;
  }

  /**
   * A stream the exchange acknowledged and then sent nothing on, while the socket delivers others,
   * froze its series for good with everything reading `live` (an attacker-style probe: 242 s, no log):
   * one silent for its interval plus a grace is subscribed again (put in the socket's `again`), and
   * its series re-synced. Returns those found now, if any.
   */
  findSilent(requested: ReadonlySet<string>, again: Set<string>, now: number): string[] | undefined {
    let silent: string[] | undefined;
    for (const s of requested) {
      const at = this.heardOf.get(s);
      // Only while others come: a socket silent as a whole is the rule above's.
      if (at === undefined || this.lastFrameAt <= at || now - at <= streamSilenceMs(s) || !this.wanted.has(s)) continue;
      (silent ??= []).push(s);
      this.silentNow.add(s);
      again.add(s);
      this.heardOf.set(s, now);
    }
    return silent;
  }
}
