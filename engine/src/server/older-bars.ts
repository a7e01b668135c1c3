import type { Config } from '../config/config.ts';
import type { Bar } from '../domain/bar.ts';
import { isNativeInterval } from '../domain/interval.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { Metrics } from '../metrics.ts';
import type { SeriesCatalog } from '../pipeline/series-catalog.ts';
import { customOlderBars } from '../series/custom-older-bars.ts';
import type { BinanceRest } from '../sources/binance-rest.ts';
import { ClientHistory, WARM_UP_ADDRESS } from './client-history.ts';

export interface OlderBarsConfig {
  config: Pick<Config, 'clientHistoryQueue' | 'clientHistoryPerMinute'>;
  rest: BinanceRest;
  catalog: SeriesCatalog;
  metrics: Metrics;
}

/** Bars older than the store, from the exchange: for clients' history pages and derived series' ranges and warm-ups. */
export interface OlderBars {
  /** A page for a client `address` (GET /candles?endTime=); a custom interval's resampled from its source's. */
  page(symbol: string, interval: string, endTime: number, limit: number, address: string): Promise<Bar[]>;
  /** Any series' page, a custom interval's resampled from its source's; counted against `address` (default: one address of their own, e.g. a restart's warm-up). */
  ofSeries(id: SeriesId, endTime: number, limit: number, address?: string): Promise<Bar[]>;
}

/**
 * History older than the store: below live work at the REST gate, identical pages coalesced, closed
 * pages cached, each client address rate-limited, at most `clientHistoryQueue` pages pending. Counted
 * in `engine_client_history_pages` by outcome.
 */
export function olderBarsSource({ config, rest, catalog, metrics }: OlderBarsConfig): OlderBars {
  const history = new ClientHistory({
    fetch: (symbol, interval, endTime, limit) => rest.klines({ symbol, interval, endTime, limit }, undefined, 'client'),
    maxPending: config.clientHistoryQueue,
    perAddressPerMinute: config.clientHistoryPerMinute,
    perAddressBurst: Math.max(1, Math.ceil(config.clientHistoryPerMinute / 3)),
  });
  const pages = metrics.gauge('engine_client_history_pages', 'Client history pages (older than the store) by outcome since start');
  const cached = metrics.gauge('engine_client_history_cached', 'Client history pages and bars in the page cache now');
  metrics.onCollect(() => {
    const st = history.stats();
    pages(st.fetched, { outcome: 'fetched' });
    pages(st.cacheHits, { outcome: 'cache_hit' });
    pages(st.coalesced, { outcome: 'coalesced' });
    pages(st.refusedRate, { outcome: 'refused_rate' });
    pages(st.refusedBusy, { outcome: 'refused_busy' });
    cached(st.cachedPages, { kind: 'pages' });
    cached(st.cachedBars, { kind: 'bars' });
  });
  const native = (symbol: string, interval: string, endTime: number, limit: number, address: string) => history.page(address, symbol, interval, endTime, limit);
  const page = (symbol: string, interval: string, endTime: number, limit: number, address: string) => {
    if (isNativeInterval(interval)) return native(symbol, interval, endTime, limit, address);
    // A custom interval has no klines of its own on the exchange: its source's, resampled (asked as
    // itself, the exchange refuses it: 'Invalid interval').
    const source = catalog.customSeriesOf(symbol).find((c) => c.id.interval === interval)?.source;
    if (!source) return Promise.reject(new Error(`${interval} of ${symbol} has no source interval`));
    return customOlderBars((end, n) => native(symbol, source.interval, end, n, address), interval, source.interval, endTime, limit);
  };
  return {
    page,
    ofSeries: (id, endTime, limit, address = WARM_UP_ADDRESS) => page(id.symbol, id.interval, endTime, limit, address),
  };
}
