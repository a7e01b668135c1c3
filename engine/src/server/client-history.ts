import type { Bar } from '../domain/bar.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import { bucketOpen } from '../domain/interval.ts';
import { AddressRateLimit } from './address-rate-limit.ts';

export interface ClientHistoryOptions {
  /** One page from the exchange, at client priority (never ahead of bootstrap and gap fills). */
  fetch(symbol: string, interval: string, endTime: number, limit: number): Promise<Bar[]>;
  /** Distinct pages being fetched at once, queued included; more are refused (503). Default 16. */
  maxPending?: number;
  /** Bars kept in the page cache (least recently used pages go first). Default 100,000. */
  maxCachedBars?: number;
  /** Pages each client address may have fetched per minute, on average. Default 60. */
  perAddressPerMinute?: number;
  /** …and at once. Default 20. */
  perAddressBurst?: number;
  now?: () => number;
}

export interface ClientHistoryStats {
  fetched: number;
  cacheHits: number;
  coalesced: number;
  refusedRate: number;
  refusedBusy: number;
  pending: number;
  cachedPages: number;
  cachedBars: number;
}

/** The address derived-series warm-ups count against (one of their own, not a client's). */
export const WARM_UP_ADDRESS = 'derived-series-warm-up';

/**
 * History older than the store, asked for by clients (`GET /candles/…?endTime=`): bounded work per
 * client and in total. Identical pages asked for at once are fetched once; pages of closed bars are
 * cached (bounded LRU by bars); each client address gets a token bucket; at most `maxPending`
 * distinct pages wait for the exchange. Refusals are HistoryRefusedError with a retry time.
 */
export class ClientHistory {
  private readonly inFlight = new Map<string, Promise<Bar[]>>();
  private readonly cache = new Map<string, readonly Bar[]>();
  private cachedBars = 0;
  private readonly limiter: AddressRateLimit;
  private readonly counts = { fetched: 0, cacheHits: 0, coalesced: 0, refusedRate: 0, refusedBusy: 0 };

  constructor(private readonly opts: ClientHistoryOptions) {
    this.limiter = new AddressRateLimit({ perMinute: opts.perAddressPerMinute ?? 60, burst: opts.perAddressBurst ?? 20, now: opts.now });
  }

  /** Bars with openTime <= endTime, newest `limit` of them, oldest first. */
  async page(address: string, symbol: string, interval: string, endTime: number, limit: number): Promise<Bar[]> {
    // Every endTime inside one bar asks for the same bars: one key (and one cache entry) for all.
    const key = `${symbol}:${interval}:${bucketOpen(endTime, interval)}:${limit}`;
    const cached = this.cache.get(key);
    if (cached) {
      this.counts.cacheHits++;
      this.cache.delete(key);
      this.cache.set(key, cached);
      return [...cached];
    }
    const running = this.inFlight.get(key);
    if (running) {
      this.counts.coalesced++;
      return [...(await running)];
    }
    const wait = this.limiter.take(address);
    if (wait > 0) {
      this.counts.refusedRate++;
      throw new HistoryRefusedError(`too many history requests from this address: retry in ${wait} s`, { info: { reason: 'rate', retryAfterSec: wait } });
    }
    if (this.inFlight.size >= (this.opts.maxPending ?? 16)) {
      this.counts.refusedBusy++;
      throw new HistoryRefusedError('too many history requests waiting for the exchange: retry in 1 s', { info: { reason: 'busy', retryAfterSec: 1 } });
    }
    const fetching = this.opts.fetch(symbol, interval, endTime, limit).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, fetching);
    let bars: Bar[];
    try {
      bars = await fetching;
    } catch (e) {
      if (e instanceof HistoryRefusedError) this.counts.refusedBusy++;
      throw e;
    }
    this.counts.fetched++;
    // Only pages of closed bars never change; a page reaching the forming bar is not kept.
    if (bars.every((b) => b.closed)) this.remember(key, bars);
    return [...bars];
  }

  stats(): ClientHistoryStats {
    return { ...this.counts, pending: this.inFlight.size, cachedPages: this.cache.size, cachedBars: this.cachedBars };
  }

  private remember(key: string, bars: readonly Bar[]): void {
    const max = this.opts.maxCachedBars ?? 100_000;
    if (bars.length > max || this.cache.has(key)) return;
    this.cache.set(key, bars);
    this.cachedBars += bars.length;
    for (const [k, v] of this.cache) {
      if (this.cachedBars <= max) break;
      this.cache.delete(k);
      this.cachedBars -= v.length;
    }
  }
}
