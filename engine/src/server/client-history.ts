import type { Bar } from '../domain/bar.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import { bucketOpen } from '../domain/interval.ts';
import { AddressRateLimit } from './address-rate-limit.ts';

export interface ClientHistoryOptions {
  /** One page from the exchange, at client priority (never ahead of bootstrap and gap fills). */
  fetch(symbol: string, interval: string, endTime: number, limit: number): Promise<Bar[]>;
  /** Distinct pages being fetched at once, queued included; more are refused (503). Default 16. */
  maxPending?: number;
  /** Bars kept in the page cache (least recently used pages go first; a page counts one more). Default 100,000. */
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

/**
 * Bars asked of the exchange for any page of this many or fewer (Binance's most, at the same weight as
 * one bar): every `limit` a client asks is then cut from one cached page. With `limit` in the key, a
 * client varying it missed the cache each time and spent the exchange budget (a probe: ~20 addresses
 * at their ration took the clients' half of it).
 */
export const EXCHANGE_PAGE = 1000;

/** Series whose listing time is known (an empty page before it): bounded, the least recent go. */
const MAX_LISTINGS = 10_000;

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
  /**
   * Per series, the newest endTime the exchange had nothing at or before (before its listing): any
   * earlier one is empty too, answered here. Cached, such pages cost no bars, so a client walking
   * endTimes before a listing filled the cache without bound (a probe: 500,000 pages, 111 MB).
   */
  private readonly emptyUpTo = new Map<string, number>();
  private readonly limiter: AddressRateLimit;
  private readonly counts = { fetched: 0, cacheHits: 0, coalesced: 0, refusedRate: 0, refusedBusy: 0 };

  constructor(private readonly opts: ClientHistoryOptions) {
    this.limiter = new AddressRateLimit({ perMinute: opts.perAddressPerMinute ?? 60, burst: opts.perAddressBurst ?? 20, now: opts.now });
  }

  /** Bars with openTime <= endTime, newest `limit` of them, oldest first. */
  async page(address: string, symbol: string, interval: string, endTime: number, limit: number): Promise<Bar[]> {
    const series = `${symbol}:${interval}`;
    if (endTime <= (this.emptyUpTo.get(series) ?? Number.NEGATIVE_INFINITY)) {
      this.counts.cacheHits++;
      return [];
    }
    // Every endTime inside one bar asks for the same bars, and every limit up to a full page is cut
    // from one: one key (and one cache entry) for all.
    const asked = Math.max(limit, EXCHANGE_PAGE);
    const key = `${series}:${bucketOpen(endTime, interval)}${asked > EXCHANGE_PAGE ? `:${asked}` : ''}`;
    const newest = (bars: readonly Bar[]) => bars.slice(Math.max(0, bars.length - limit));
    const cached = this.cache.get(key);
    if (cached) {
      this.counts.cacheHits++;
      this.cache.delete(key);
      this.cache.set(key, cached);
      return newest(cached);
    }
    const running = this.inFlight.get(key);
    if (running) {
      this.counts.coalesced++;
      return newest(await running);
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
    const fetching = this.opts.fetch(symbol, interval, endTime, asked).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, fetching);
    let bars: Bar[];
    try {
      bars = await fetching;
    } catch (e) {
      if (e instanceof HistoryRefusedError) this.counts.refusedBusy++;
      throw e;
    }
    this.counts.fetched++;
    if (!bars.length) this.listedAfter(series, endTime);
    // Only pages of closed bars never change; a page reaching the forming bar is not kept.
    else if (bars.every((b) => b.closed)) this.remember(key, bars);
    return newest(bars);
  }

  stats(): ClientHistoryStats {
    return { ...this.counts, pending: this.inFlight.size, cachedPages: this.cache.size, cachedBars: this.cachedBars };
  }

  private listedAfter(series: string, endTime: number): void {
    const known = this.emptyUpTo.get(series);
    if (known !== undefined && known >= endTime) return;
    this.emptyUpTo.delete(series);
    this.emptyUpTo.set(series, endTime);
    if (this.emptyUpTo.size > MAX_LISTINGS) this.emptyUpTo.delete(this.emptyUpTo.keys().next().value!);
  }

  private remember(key: string, bars: readonly Bar[]): void {
    const max = this.opts.maxCachedBars ?? 100_000;
    const cost = (page: readonly Bar[]) => page.length + 1;
    if (cost(bars) > max || this.cache.has(key)) return;
    this.cache.set(key, bars);
    this.cachedBars += cost(bars);
    for (const [k, v] of this.cache) {
      if (this.cachedBars <= max) break;
      this.cache.delete(k);
      this.cachedBars -= cost(v);
    }
  }
}
