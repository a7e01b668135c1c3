import { isNativeInterval } from '../domain/interval.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { sourceIntervalFor } from './custom-intervals.ts';

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

  /** Native intervals streamed from the exchange: the configured ones and the sources of custom ones. */
  streamedIntervals(): string[] {
    const out = new Set(this.configuredIntervals.filter(isNativeInterval));
    for (const i of this.configuredIntervals) if (!isNativeInterval(i)) out.add(sourceIntervalFor(i));
    return [...out];
  }

  /** Every streamed native series (bootstrapped, gap-filled, stored; hidden ones are not served). */
  nativeSeries(): SeriesId[] {
    return this.configuredSymbols.flatMap((s) => this.streamedIntervals().map((i) => seriesId(s, i)));
  }

  /** Custom-interval series with the native series each is computed from. */
  customSeries(): Array<{ id: SeriesId; source: SeriesId }> {
    return this.configuredSymbols.flatMap((s) =>
      this.configuredIntervals.filter((i) => !isNativeInterval(i)).map((i) => ({ id: seriesId(s, i), source: seriesId(s, sourceIntervalFor(i)) })),
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
