import { sleep } from './rest-gate.ts';

/** The share of the attempts a connection's first dial may not use: kept for re-dials of connections carrying streams. */
const REDIAL_RESERVE = 0.2;

/**
 * Binance allows 300 connection attempts per 5 minutes per IP. Every shard asks here before dialing,
 * so a reconnect storm across many shards can never exceed the limit (we keep a margin below it).
 * A connection's first dial may use all but a fifth of them: on-demand series churning across a
 * connection's worth of streams opened a new one each round, used up the attempts, and a real
 * reconnect of the configured series' connection then waited 200 s for its turn (a review).
 * This process's attempts only: a cluster's ingest nodes share one budget (SharedConnectLimiter).
 */
export class ConnectLimiter {
  /** This process's attempts within the window, oldest first. */
  protected readonly attempts: number[] = [];
  /** No dial before this (the exchange refused one with a Retry-After). */
  protected heldUntil = 0;
  constructor(
    protected readonly max = 250,
    protected readonly windowMs = 5 * 60_000,
    protected readonly now: () => number = Date.now,
  ) {}

  /** Waits for an attempt; `first`: a connection's first dial, which leaves the re-dials' reserve. */
  async acquire(signal?: AbortSignal, first = false): Promise<void> {
    const max = this.allowance(first);
    for (;;) {
      const t = this.now();
      const wait = this.waitAt(t, max);
      if (wait === 0) {
        this.attempts.push(t);
        return;
      }
      await sleep(wait, signal);
    }
  }

  /** Holds every dial for `ms` (or longer, if already held longer): the exchange's Retry-After. */
  holdFor(ms: number): void {
    this.heldUntil = Math.max(this.heldUntil, this.now() + ms);
  }

  get recent(): number {
    return this.attempts.length;
  }

  /** How long a dial that may count on `max` attempts in the window waits at `t` (0: it may go); drops attempts out of the window. */
  protected waitAt(t: number, max: number): number {
    if (t < this.heldUntil) return this.heldUntil - t;
    while (this.attempts.length && this.attempts[0]! <= t - this.windowMs) this.attempts.shift();
    return this.attempts.length < max ? 0 : this.attempts[this.attempts.length - max]! + this.windowMs - t + 10;
  }

  /** The attempts in the window a dial may count on: a first dial leaves the re-dials' reserve. */
  protected allowance(first: boolean): number {
    return first ? Math.max(1, Math.floor(this.max * (1 - REDIAL_RESERVE))) : this.max;
  }
}
