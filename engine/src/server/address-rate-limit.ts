import { isIP } from 'node:net';
import { addressBlock } from './client-address.ts';

/**
 * What an IPv6 /48 (a site's usual allocation) may take of any per-address ration, in addresses'
 * worth. Each /64 is rationed apart, so a /48 would otherwise hold 65,536 rations (an attacker-style
 * probe's note); an IPv4 /24 is not pooled (256 addresses cost money, and offices share one).
 */
export const IPV6_BLOCK_SHARE = 16;

/** The /48 an IPv6 address (a rationed /64) pools with, or undefined for any other key. */
export function pooledBlock(address: string): string | undefined {
  return isIP(address) === 6 ? addressBlock(address) : undefined;
}

/**
 * A token bucket per client address: `perMinute` requests a minute on average, up to `burst` at
 * once; an IPv6 address also draws on its /48's bucket, IPV6_BLOCK_SHARE times as large. Addresses
 * are bounded (the least recently seen is forgotten first, which only ever gives that address a
 * fresh bucket).
 */
export class AddressRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly opts: { perMinute: number; burst: number; maxAddresses?: number; now?: () => number }) {
    if (!(opts.perMinute > 0) || !(opts.burst >= 1)) throw new TypeError(`AddressRateLimit: perMinute must be > 0 and burst >= 1, got ${opts.perMinute}, ${opts.burst}`);
  }

  /** Takes `n` tokens (all or none, from the address and its block) for `address`: 0 when allowed, else the seconds until they are available. */
  take(address: string, n = 1): number {
    const now = (this.opts.now ?? Date.now)();
    const block = pooledBlock(address);
    const own = this.level(address, 1, now);
    const pool = block === undefined ? undefined : this.level(`block ${block}`, IPV6_BLOCK_SHARE, now);
    const wait = Math.max(this.wait(own, n, 1), pool === undefined ? 0 : this.wait(pool, n, IPV6_BLOCK_SHARE));
    const spent = wait === 0 ? n : 0;
    this.store(address, own - spent, now);
    if (pool !== undefined) this.store(`block ${block}`, pool - spent, now);
    return wait;
  }

  /**
   * Takes `n` more tokens for what a request turned out to cost (its answer's size), whether or not
   * they are there: the address waits them off before its next request. The debt is bounded by a
   * burst, so one answer never shuts an address out for longer than a burst takes to refill.
   */
  charge(address: string, n: number): void {
    if (!(n > 0)) return;
    const now = (this.opts.now ?? Date.now)();
    const block = pooledBlock(address);
    this.store(address, Math.max(-this.opts.burst, this.level(address, 1, now) - n), now);
    if (block !== undefined) this.store(`block ${block}`, Math.max(-this.opts.burst * IPV6_BLOCK_SHARE, this.level(`block ${block}`, IPV6_BLOCK_SHARE, now) - n), now);
  }

  get addresses(): number {
    return this.buckets.size;
  }

  /** Tokens in a bucket now (`share`: addresses' worth it holds). */
  private level(key: string, share: number, now: number): number {
    const seen = this.buckets.get(key);
    const burst = this.opts.burst * share;
    return seen ? Math.min(burst, seen.tokens + (now - seen.at) * (this.opts.perMinute / 60_000) * share) : burst;
  }

  private wait(tokens: number, n: number, share: number): number {
    if (tokens >= n) return 0;
    return Math.max(1, Math.ceil((n - tokens) / ((this.opts.perMinute / 60_000) * share) / 1000));
  }

  private store(key: string, tokens: number, now: number): void {
    // Re-inserted, so the map's order is least recently seen first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
    this.trim();
  }

  private trim(): void {
    const max = this.opts.maxAddresses ?? 10_000;
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= max) break;
      this.buckets.delete(key);
    }
  }
}
