/**
 * A token bucket per client address: `perMinute` requests a minute on average, up to `burst` at
 * once. Addresses are bounded (the least recently seen is forgotten first, which only ever gives
 * that address a fresh bucket).
 */
export class AddressRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly opts: { perMinute: number; burst: number; maxAddresses?: number; now?: () => number }) {
    if (!(opts.perMinute > 0) || !(opts.burst >= 1)) throw new TypeError(`AddressRateLimit: perMinute must be > 0 and burst >= 1, got ${opts.perMinute}, ${opts.burst}`);
  }

  /** Takes `n` tokens (all or none) for `address`: 0 when allowed, else the seconds until they are available. */
  take(address: string, n = 1): number {
    const now = (this.opts.now ?? Date.now)();
    const perMs = this.opts.perMinute / 60_000;
    const seen = this.buckets.get(address);
    const tokens = seen ? Math.min(this.opts.burst, seen.tokens + (now - seen.at) * perMs) : this.opts.burst;
    // Re-inserted, so the map's order is least recently seen first.
    this.buckets.delete(address);
    if (tokens >= n) {
      this.buckets.set(address, { tokens: tokens - n, at: now });
      this.trim();
      return 0;
    }
    this.buckets.set(address, { tokens, at: now });
    return Math.max(1, Math.ceil((n - tokens) / perMs / 1000));
  }

  get addresses(): number {
    return this.buckets.size;
  }

  private trim(): void {
    const max = this.opts.maxAddresses ?? 10_000;
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= max) break;
      this.buckets.delete(key);
    }
  }
}
