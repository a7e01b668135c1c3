import { type BinanceInterval, isNativeInterval } from '../domain/interval.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { guessMarket, type Market } from '../sources/exchange-info.ts';
import { customSource } from './custom-intervals.ts';

/** `GET /symbols`: every trading symbol, the configured ones, markets with base/quote, intervals, source. */
export interface SymbolsListing {
  symbols: string[];
  configured: string[];
  markets: Market[];
  intervals: readonly string[];
  source: string;
}

/** Fewer markets than this stopping at once are always applied (a small universe's list). */
export const MASS_STOP_MIN = 10;

/**
 * What exists and what clients may ask for: the exchange's TRADING markets (from `exchangeInfo`, kept
 * current by `setMarkets`), the configured symbols (a list, or `'*'` for the whole universe) minus
 * those the exchange does not trade, and the intervals with each custom interval's source. Until the
 * exchange has described its markets, the configured symbols are taken as trading (a replay, say).
 */
export class SeriesCatalog {
  private readonly universe: boolean;
  private readonly configuredSymbols: readonly string[];
  private readonly invalid = new Set<string>();
  private readonly trading = new Map<string, Market>();
  private loaded = false;
  /** Sorted trading symbols, rebuilt when the markets change (asked for on every request). */
  private sortedCache: string[] | undefined;
  /** Each custom interval's source interval (see `customSource`). */
  private readonly sources = new Map<string, BinanceInterval>();

  constructor(
    configuredSymbols: readonly string[] | '*',
    private readonly configuredIntervals: readonly string[],
    private sourceName: string,
    bufferSize: number,
  ) {
    this.universe = configuredSymbols === '*';
    this.configuredSymbols = configuredSymbols === '*' ? [] : configuredSymbols;
    for (const i of configuredIntervals) if (!isNativeInterval(i)) this.sources.set(i, customSource(i, configuredIntervals, bufferSize));
  }

  /**
   * The exchange's TRADING markets now. Returns the symbols that started and stopped trading since the
   * last call (on the first call, `added` is every market and nothing is removed). A list that would
   * stop most of the markets at once (over half, and over MASS_STOP_MIN) is not applied: `held` says
   * how many it would have stopped. An exchange-wide halt (every symbol BREAK for a maintenance) ended
   * every series and closed every chart, then loaded them all again from REST (a review); a delisting
   * comes a few symbols at a time.
   */
  setMarkets(markets: readonly Market[]): { added: string[]; removed: string[]; held?: number } {
    const next = new Map(markets.map((m) => [m.symbol, m]));
    const added = [...next.keys()].filter((s) => !this.trading.has(s));
    const removed = this.loaded ? [...this.trading.keys()].filter((s) => !next.has(s)) : [];
    if (removed.length > MASS_STOP_MIN && removed.length > this.trading.size / 2) return { added: [], removed: [], held: removed.length };
    this.trading.clear();
    for (const [s, m] of next) this.trading.set(s, m);
    this.loaded = true;
    this.sortedCache = undefined;
    for (const s of added) this.invalid.delete(s);
    return { added, removed };
  }

  /** Whether the exchange has described its markets yet. */
  get marketsLoaded(): boolean {
    return this.loaded;
  }

  get isUniverse(): boolean {
    return this.universe;
  }

  /** A symbol clients may ask for: trading on the exchange (configured ones until it has said). */
  isTrading(symbol: string): boolean {
    if (this.invalid.has(symbol)) return false;
    return this.loaded ? this.trading.has(symbol) : this.configuredSymbols.includes(symbol);
  }

  /** Every symbol clients may ask for, sorted. */
  symbols(): readonly string[] {
    if (!this.sortedCache) {
      const all = this.loaded ? [...this.trading.keys()] : this.configuredSymbols.filter((s) => !this.invalid.has(s));
      this.sortedCache = all.sort();
    }
    return this.sortedCache;
  }

  /** The symbols kept live at all times: the configured ones that trade (every trading one for `*`). */
  configured(): string[] {
    if (this.universe) return [...this.symbols()];
    return this.configuredSymbols.filter((s) => this.isTrading(s));
  }

  isConfigured(symbol: string): boolean {
    return this.universe ? this.isTrading(symbol) : this.configuredSymbols.includes(symbol) && this.isTrading(symbol);
  }

  markets(): Market[] {
    return this.symbols().map((s) => this.trading.get(s) ?? guessMarket(s));
  }

  listing(): SymbolsListing {
    return { symbols: [...this.symbols()], configured: this.configured(), markets: this.markets(), intervals: this.intervals(), source: this.sourceName };
  }

  intervals(): readonly string[] {
    return this.configuredIntervals;
  }

  isInterval(interval: string): boolean {
    return this.configuredIntervals.includes(interval);
  }

  /** Native intervals streamed from the exchange: the configured ones and the sources of custom ones. */
  streamedIntervals(): string[] {
    const out = new Set(this.configuredIntervals.filter(isNativeInterval));
    for (const source of this.sources.values()) out.add(source);
    return [...out];
  }

  /** The native series a served series is computed from: itself, or a custom interval's source. */
  sourceOf(id: SeriesId): SeriesId | undefined {
    const source = this.sources.get(id.interval);
    return source ? seriesId(id.symbol, source) : undefined;
  }

  /** Every streamed native series of the configured symbols (bootstrapped, gap-filled, stored; hidden ones are not served). */
  nativeSeries(): SeriesId[] {
    return this.configured().flatMap((s) => this.nativeSeriesOf(s));
  }

  nativeSeriesOf(symbol: string): SeriesId[] {
    return this.streamedIntervals().map((i) => seriesId(symbol, i));
  }

  /** Custom-interval series of the configured symbols with the native series each is computed from. */
  customSeries(): Array<{ id: SeriesId; source: SeriesId }> {
    return this.configured().flatMap((s) => this.customSeriesOf(s));
  }

  customSeriesOf(symbol: string): Array<{ id: SeriesId; source: SeriesId }> {
    return [...this.sources].map(([i, source]) => ({ id: seriesId(symbol, i), source: seriesId(symbol, source) }));
  }

  source(): string {
    return this.sourceName;
  }

  /** An edge learns its leader's exchange (`sim`, `binance`, `replay`) from Redis. */
  setSource(name: string): void {
    this.sourceName = name;
  }

  /** The exchange refused the symbol (-1121): nobody may ask for it until it trades again. */
  reject(symbol: string): void {
    this.invalid.add(symbol);
    this.sortedCache = undefined;
  }

  /** Configured symbols the exchange does not trade. */
  get rejected(): readonly string[] {
    const notTrading = this.loaded ? this.configuredSymbols.filter((s) => !this.trading.has(s)) : [];
    return [...new Set([...notTrading, ...this.invalid])];
  }
}
