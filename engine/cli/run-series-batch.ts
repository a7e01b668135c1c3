import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { concatMap, fromEvent, identity, lastValueFrom, map, type Observable, of, race, Subject, take } from 'rxjs';
import type { Bar } from '../src/domain/bar.ts';
import { bucketOpen, bucketsBetween, type Interval, nextOpen, parseInterval } from '../src/domain/interval.ts';
import { resample } from '../src/operators/resample.ts';
import { sourceIntervalFor } from '../src/pipeline/custom-intervals.ts';
import type { SeriesPoint } from '../src/series/define-series.ts';
import { BinanceRest, MAX_KLINES_PER_CALL } from '../src/sources/binance-rest.ts';
import { createRedisBarStore } from '../src/store/redis-bar-store.ts';
import { historyPages, pagesOf } from './history-pages.ts';
import { recordedBars } from './recorded-bars.ts';
import { type PointFormat, pointFormatter } from './point-format.ts';
import { BatchUsageError } from './batch-usage-error.ts';
import { resolveSeriesSpec } from './resolve-series-spec.ts';

export { BatchUsageError };

/** What a batch run reports after each page. */
export interface BatchProgress {
  /** Source bars fed so far. */
  bars: number;
  /** Estimated source bars in the whole run. */
  expected: number;
  points: number;
  /** Last REST weight the exchange reported for this minute. */
  weight: number;
}

export interface SeriesBatchOptions {
  /** `rsi` or `ema-cross:fast=5;slow=12`, a series of `seriesDir`. */
  series: string;
  seriesDir: string;
  symbol: string;
  /** Native or custom (custom ones are fetched at `sourceIntervalFor` and resampled). */
  interval: string;
  /** Points of every whole `interval` bar opening in [from, to] (ms; `to` inclusive, as Binance's endTime). */
  from: number;
  to: number;
  out: string;
  format: PointFormat;
  restUrl: string;
  weightBudget: number;
  restConcurrency?: number;
  /** Read the bars from this recording (`npm run record`) instead of the store and REST. */
  recording?: string;
  /** Read the store first when given. */
  redisUrl?: string;
  redisKeyPrefix?: string;
  /** Bars of `interval` fed before `from` to warm the series up; their points are not written. */
  warmup?: number;
  onProgress?: (p: BatchProgress) => void;
}

export interface SeriesBatchResult {
  /** Source bars fed (of the source interval for a custom one). */
  bars: number;
  /** Closed points written. */
  points: number;
  ms: number;
  /** Of `bars`, how many came from the store. */
  storedBars: number;
  /** Recorded lines that could not be read (a recording run only). */
  skippedLines: number;
}

/**
 * Runs a derived series over history and writes its closed points to a file, streaming: each page
 * of bars goes synchronously through the definition's operator and its lines are written before
 * the next page is taken (waiting for the file to drain when it asks to).
 */
export async function runSeriesBatch(opts: SeriesBatchOptions): Promise<SeriesBatchResult> {
  const t0 = performance.now();
  let target: Interval;
  try {
    target = parseInterval(opts.interval);
  } catch (e) {
    throw new BatchUsageError('interval', (e as Error).message, { cause: e, value: opts.interval });
  }
  const { definition, params } = await resolveSeriesSpec(opts.seriesDir, opts.series, target.name);
  // A recording is read before the output file is created, so a bad one leaves nothing behind.
  const recorded = opts.recording ? await recordedBars(opts.recording, opts.symbol, target.name) : undefined;
  const source = recorded?.source ?? (target.native ? target.name : sourceIntervalFor(target.name));
  // Whole buckets only: a bucket cut by --from would give a partial first bar.
  let first = bucketOpen(opts.from, target);
  if (first < opts.from) first = nextOpen(first, target);
  let start = first;
  for (let i = 0; i < (opts.warmup ?? 0); i++) start = bucketOpen(start - 1, target);
  // Exclusive end on source bars: through the whole last bucket opening at or before --to.
  // (A recording holds only closed bars, on its own clock: the wall clock does not bound it.)
  const end = Math.min(nextOpen(bucketOpen(opts.to, target), target), recorded ? Infinity : bucketOpen(Date.now(), source) + 1);
  if (start >= end) throw new BatchUsageError('to', `no whole ${opts.interval} bar opens between --from and --to`, { value: String(opts.to) });
  const total = bucketsBetween(start, bucketOpen(end - 1, source) + 1, source) || 1;

  let weight = 0;
  const rest = recorded ? undefined : new BinanceRest({ baseUrl: opts.restUrl, weightBudget: opts.weightBudget, concurrency: opts.restConcurrency ?? 2, onWeight: (w) => (weight = w) });
  const storeLimit = 100_000;
  const store = opts.redisUrl && !recorded
    ? createRedisBarStore({ url: opts.redisUrl, bufferSize: Math.min(total, storeLimit), keyPrefix: opts.redisKeyPrefix, connectTimeoutMs: 2000 })
    : undefined;
  const file = createWriteStream(opts.out);
  let fileFailure: unknown;
  file.on('error', (e) => (fileFailure ??= e));
  // Waits for the file to take more, failing if it breaks meanwhile.
  const drained$ = race(fromEvent(file, 'drain').pipe(take(1)), fromEvent(file, 'error').pipe(map((e) => { throw e; })));
  try {
    const { pages$, storedBars } = recorded
      ? { pages$: of(...pagesOf(recorded.bars.filter((b) => b.openTime >= start && b.openTime < end), MAX_KLINES_PER_CALL)), storedBars: 0 }
      : await historyPages({ rest: rest!, store, storeLimit, symbol: opts.symbol, interval: source, from: start, to: end });
    const fmt = pointFormatter(opts.format);
    let bars = 0;
    let points = 0;
    let chunk = '';
    let failure: unknown;
    const input = new Subject<Bar>();
    const sub = input
      .pipe(source === target.name ? identity : resample(target.name, { sourceInterval: source }), definition.operator(params))
      .subscribe({
        next: (p: SeriesPoint) => {
          if (!p.closed || p.time < first || p.time > opts.to) return;
          chunk += fmt.line(p);
          points++;
        },
        error: (e: unknown) => (failure = e),
      });
    const feed = (page: Bar[]): Observable<unknown> => {
      for (const b of page) input.next(b);
      bars += page.length;
      if (failure) throw failure;
      if (fileFailure) throw fileFailure;
      opts.onProgress?.({ bars, expected: total, points, weight });
      const out = chunk;
      chunk = '';
      return out && !file.write(out) ? drained$ : of(0);
    };
    try {
      await lastValueFrom(pages$.pipe(concatMap(feed)), { defaultValue: 0 });
      input.complete();
      if (failure) throw failure;
    } finally {
      sub.unsubscribe();
    }
    file.end(chunk + fmt.header());
    await finished(file);
    return { bars, points, ms: performance.now() - t0, storedBars, skippedLines: recorded?.skipped ?? 0 };
  } catch (e) {
    file.destroy();
    throw e;
  } finally {
    await Promise.allSettled([rest?.close(), store?.close()]);
  }
}
