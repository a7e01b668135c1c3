import { isNativeInterval } from '../domain/interval.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';

/** The configured series, minus symbols the exchange rejected. Answers what clients may ask for. */
export class SeriesCatalog {
  private readonly active: Set<string>;
  private readonly invalid = new Set<string>();

  constructor(
    private readonly configuredSymbols: readonly string[],
    private readonly configuredIntervals: readonly string[],
    private sourceName: string,
  ) {
    this.active = new Set(configuredSymbols);
  }

  symbols(): readonly string[] {
    return this.configuredSymbols.filter((s) => this.active.has(s));
  }

  intervals(): readonly string[] {
    return this.configuredIntervals;
  }

  /** Intervals the exchange streams natively (the rest are computed). */
  nativeIntervals(): readonly string[] {
    return this.configuredIntervals.filter(isNativeInterval);
  }

  source(): string {
    return this.sourceName;
  }

  /** Every (symbol, interval) of the configuration, in a stable order. */
  allSeries(): SeriesId[] {
    return this.configuredSymbols.flatMap((s) => this.configuredIntervals.map((i) => seriesId(s, i)));
  }

  reject(symbol: string): void {
    this.active.delete(symbol);
    this.invalid.add(symbol);
  }

  get rejected(): readonly string[] {
    return [...this.invalid];
  }
}
