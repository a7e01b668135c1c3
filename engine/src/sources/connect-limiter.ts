import { sleep } from './rest-gate.ts';

/** The share of the attempts a connection's first dial may not use: kept for re-dials of connections carrying streams. */
const REDIAL_RESERVE = 0.2;

/**
 * Binance allows 300 connection attempts per 5 minutes per IP. Every shard asks here before dialing,
 * so a reconnect storm across many shards can never exceed the limit (we keep a margin below it).
 * A connection's first dial may use all but a fifth of them: on-demand series churning across a
 * connection's worth of streams opened a new one each round, used up the attempts, and a real
 * reconnect of the configured series' connection then waited 200 s for its turn (a review).
 */
export class ConnectLimiter {
  private readonly attempts: number[] = [];
  /** No dial before this (the exchange refused one with a Retry-After). */
  private heldUntil = 0;
  constructor(
    private readonly max = 250,
    private readonly windowMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Waits for an attempt; `first`: a connection's first dial, which leaves the re-dials' reserve. */
  async acquire(signal?: AbortSignal, first = false): Promise<void> {
    const max = first ? Math.max(1, Math.floor(this.max * (1 - REDIAL_RESERVE))) : this.max;
    for (;;) {
      const t = this.now();
      if (t < this.heldUntil) {
        await sleep(this.heldUntil - t, signal);
        continue;
      }
      while (this.attempts.length && this.attempts[0]! <= t - this.windowMs) this.attempts.shift();
      if (this.attempts.length < max) {
        this.attempts.push(t);
        return;
      }
      await sleep(this.attempts[this.attempts.length - max]! + this.windowMs - t + 10, signal);
    }
  }

  /** Holds every dial for `ms` (or longer, if already held longer): the exchange's Retry-After. */
  holdFor(ms: number): void {
    this.heldUntil = Math.max(this.heldUntil, this.now() + ms);
  }

  get recent(): number {
    return this.attempts.length;
  }
}
