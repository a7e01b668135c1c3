import { type BinanceInterval, isNativeInterval } from '../domain/interval.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { customSource } from './custom-intervals.ts';

/** The configured series, minus symbols the exchange rejected. Answers what clients may ask for. */
export class SeriesCatalog {
  private readonly active: Set<string>;
  private readonly invalid = new Set<string>();
  /** Each custom interval's source interval (see `customSource`). */
  private readonly sources = new Map<string, BinanceInterval>();

  constructor(
    private readonly configuredSymbols: readonly string[],
    private readonly configuredIntervals: readonly string[],
    private sourceName: string,
    bufferSize: number,
  ) {
    this.active = new Set(configuredSymbols);
    for (const i of configuredIntervals) if (!isNativeInterval(i)) this.sources.set(i, customSource(i, configuredIntervals, bufferSize));
  }

  symbols(): readonly string[] {
    return this.configuredSymbols.filter((s) => this.active.has(s));
  }

  intervals(): readonly string[] {
    return this.configuredIntervals;
  }

  /** Native intervals streamed from the exchange: the configured ones and the sources of custom ones. */
  streamedIntervals(): string[] {
    const out = new Set(this.configuredIntervals.filter(isNativeInterval));
    for (const source of this.sources.values()) out.add(source);
    return [...out];
  }

  /** Every streamed native series (bootstrapped, gap-filled, stored; hidden ones are not served). */
  nativeSeries(): SeriesId[] {
    return this.configuredSymbols.flatMap((s) => this.streamedIntervals().map((i) => seriesId(s, i)));
  }

  /** Custom-interval series with the native series each is computed from. */
  customSeries(): Array<{ id: SeriesId; source: SeriesId }> {
    return this.configuredSymbols.flatMap((s) =>
      [...this.sources].map(([i, source]) => ({ id: seriesId(s, i), source: seriesId(s, source) })),
    );
  }

  source(): string {
    return this.sourceName;
  }

  reject(symbol: string): void {
    this.active.delete(symbol);
    this.invalid.add(symbol);
  }

  get rejected(): readonly string[] {
    return [...this.invalid];
  }
}
