/**
 * A token bucket: `ratePerSecond` on average, up to `burst` at once. It paces what one connection
 * sends upstream (Binance cuts a connection that sends more than 5 messages a second, pongs
 * included: 3 a second with a burst of 1 leaves room for a pong) and bounds what a client may send.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerSecond = 3,
    private readonly burst = 1,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new TypeError('TokenBucket: rate must be > 0 and burst >= 1');
    this.tokens = burst;
    this.at = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) * this.ratePerSecond) / 1000);
    this.at = t;
  }

  /** Takes a token when one is there; false means wait `waitMs()`. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }
}
