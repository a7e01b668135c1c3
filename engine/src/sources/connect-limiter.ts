import { sleep } from './rest-gate.ts';

/**
 * Binance allows 300 connection attempts per 5 minutes per IP. Every shard asks here before dialing,
 * so a reconnect storm across many shards can never exceed the limit (we keep a margin below it).
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

  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const t = this.now();
      if (t < this.heldUntil) {
        await sleep(this.heldUntil - t, signal);
        continue;
      }
      while (this.attempts.length && this.attempts[0]! <= t - this.windowMs) this.attempts.shift();
      if (this.attempts.length < this.max) {
        this.attempts.push(t);
        return;
      }
      await sleep(this.attempts[0]! + this.windowMs - t + 10, signal);
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
