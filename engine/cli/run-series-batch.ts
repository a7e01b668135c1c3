import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { concatMap, filter, fromEvent, lastValueFrom, map, type Observable, of, type OperatorFunction, race, Subject, type Subscription, take } from 'rxjs';
import type { Bar } from '../src/domain/bar.ts';
import { bucketOpen, bucketsBetween, type Interval, nextOpen, parseInterval } from '../src/domain/interval.ts';
import { resample } from '../src/operators/resample.ts';
import { sourceIntervalFor } from '../src/pipeline/custom-intervals.ts';
import { anchoredFeedStart, openSeriesRuns } from '../src/series/anchored-runs.ts';
import { type SeriesPoint, warmupBars } from '../src/series/define-series.ts';
import { BinanceRest, MAX_KLINES_PER_CALL } from '../src/sources/binance-rest.ts';
import { ExchangeClock } from '../src/sources/exchange-clock.ts';
import { createRedisBarStore } from '../src/store/redis-bar-store.ts';
import { historyPages, pagesOf } from './history-pages.ts';
import { recordedBars } from './recorded-bars.ts';
import { type PointFormat, pointFormatter } from './point-format.ts';
import { BatchUsageError } from './batch-usage-error.ts';
import { resolveSeriesSpec } from './resolve-series-spec.ts';

export { BatchUsageError };

/** How long the run waits for the exchange's time (`GET /api/v3/time`) before the host's clock stands in. */
const CLOCK_READ_DEADLINE_MS = 5000;

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
  onProgress?: (p: BatchProgress) => void;
  /** What the run has to say that is not a failure (points left out and why; the exchange's clock unread). */
  onWarn?: (message: string) => void;
}

export interface SeriesBatchResult {
  /** Source bars fed, warm-up included (of the source interval for a custom one). */
  bars: number;
  /** Closed points written. */
  points: number;
  ms: number;
  /** Of `bars`, how many came from the store. */
  storedBars: number;
  /** Recorded lines that could not be read (a recording run only). */
  skippedLines: number;
  /**
   * Points are written from this time on: the first whole bar from `from`, or later when the source
   * lacks the warm-up before it (a recording that starts late), as the engine leaves such values out.
   */
  warmFrom: number;
}

/**
 * Runs a derived series over history and writes its closed points to a file, exactly as the engine
 * computes them: through the engine's anchored runs (`AnchoredRuns`, blocks of the definition's
 * `warmup` bars, fed from the block before `from`'s; one `startRun` for a `warmup: 0` series), with
 * the engine's checks on every point (`pointProblem`, at most MAX_POINTS_PER_BAR for one bar; a bad
 * point fails the run with the engine's message). Like the engine's input, the run's never ends:
 * points an operator emits only on completion are not written. Values whose warm-up the source
 * lacks are left out (`warmFrom`, said through `onWarn`).
 *
 * Streaming: each page of bars goes synchronously through the runs and its points are written before
 * the next page is taken (waiting for the file to drain when it asks to). The file is written under a
 * temporary name beside `out` and renamed when the run succeeds: a failed run leaves no file.
 */
export async function runSeriesBatch(opts: SeriesBatchOptions): Promise<SeriesBatchResult> {
  const t0 = performance.now();
  const warn = opts.onWarn ?? (() => undefined);
  let target: Interval;
  try {
    target = parseInterval(opts.interval);
  } catch (e) {
    throw new BatchUsageError('interval', (e as Error).message, { cause: e, value: opts.interval });
  }
  const { definition, params } = await resolveSeriesSpec(opts.seriesDir, opts.series, target.name);
  let warmup: number;
  try {
    warmup = warmupBars(definition, params, target.name);
  } catch (e) {
    throw new BatchUsageError('series', (e as Error).message, { cause: e, value: opts.series });
  }
  // The engine's block length (series-run.ts blockMsOf): 0 runs one operator over everything.
  const blockMs = warmup * target.ms;
  // A recording is read before the output file is created, so a bad one leaves nothing behind.
  const recorded = opts.recording ? await recordedBars(opts.recording, opts.symbol, target.name) : undefined;
  const source = recorded?.source ?? (target.native ? target.name : sourceIntervalFor(target.name));
  // Whole buckets only: a bucket cut by --from would give a partial first bar.
  const first = openAtOrAfter(opts.from, target);
  // As the engine's ranges: fed from the start of the block before the first point's.
  const feedFrom = anchoredFeedStart(first, blockMs);
  let start = openAtOrAfter(feedFrom, target);
  // The input holds every bar the exchange has from `feedFrom` on (a symbol younger than that has
  // none before its listing, and the engine starts its values there too)…
  let inputFrom = feedFrom;
  const r0 = recorded?.bars[0]?.openTime;
  if (r0 !== undefined && r0 > start) {
    // …but a recording holds what it recorded: from its first whole bar on.
    start = openAtOrAfter(r0, target);
    inputFrom = start;
  }
  // AnchoredRuns emits a block's points only when its input holds the whole block before it.
  const warmFrom = blockMs === 0 ? first : Math.max(first, (Math.ceil(inputFrom / blockMs) + 1) * blockMs);

  let weight = 0;
  // The exchange's clock, not the host's (a simulator runs on its own; a host clock may be behind):
  // it bounds --to, and judges which REST rows are closed, as in the engine.
  const clock = new ExchangeClock();
  const rest = recorded ? undefined : new BinanceRest({ baseUrl: opts.restUrl, weightBudget: opts.weightBudget, concurrency: opts.restConcurrency ?? 2, now: clock.now, onWeight: (w) => (weight = w) });
  let store: ReturnType<typeof createRedisBarStore> | undefined;
  try {
    if (rest) {
      try {
        await clock.sync(() => rest.serverTime(AbortSignal.timeout(CLOCK_READ_DEADLINE_MS)));
      } catch (e) {
        warn(`could not read the exchange's clock (GET /api/v3/time: ${(e as Error).message}): the host's clock stands in`);
      }
    }
    // Exclusive end on source bars: through the whole last bucket opening at or before --to, and no
    // later than the exchange's forming bar. (A recording holds only closed bars: its own time bounds it.)
    const last = nextOpen(bucketOpen(opts.to, target), target);
    const end = rest ? Math.min(last, bucketOpen(clock.now(), source) + 1) : last;
    if (first >= end) throw new BatchUsageError('to', `no whole ${opts.interval} bar opens between --from and --to`, { value: String(opts.to) });
    if (warmFrom > first && warmFrom <= opts.to) {
      warn(`the recording starts at ${iso(r0!)}: the points before ${iso(warmFrom)} are left out, as the engine leaves out values it cannot warm up ('${definition.name}' needs blocks of ${warmup} ${target.name} bars before them)`);
    } else if (warmFrom > opts.to) {
      warn(`the recording starts at ${iso(r0!)}: no point can be warmed up by --to ('${definition.name}' needs ${warmup} ${target.name} bars before its first block); none is written`);
    }
    const total = Math.max(1, bucketsBetween(start, bucketOpen(end - 1, source) + 1, source));

    const storeLimit = 100_000;
    store = opts.redisUrl && !recorded
      ? createRedisBarStore({ url: opts.redisUrl, bufferSize: Math.min(total, storeLimit), keyPrefix: opts.redisKeyPrefix, connectTimeoutMs: 2000 })
      : undefined;
    const { pages$, storedBars } = recorded
      ? { pages$: of(...pagesOf(recorded.bars.filter((b) => b.openTime >= start && b.openTime < end), MAX_KLINES_PER_CALL)), storedBars: 0 }
      : await historyPages({ rest: rest!, store, storeLimit, symbol: opts.symbol, interval: source, from: start, to: end });
    const { bars, points } = await writePoints(opts.out, opts.format, pages$, engineRuns({
      name: definition.name,
      build: () => definition.operator(params),
      blockMs,
      inputFrom,
      resampleFrom: source === target.name ? undefined : source,
      interval: target.name,
      pointsFrom: warmFrom,
      pointsTo: opts.to,
      warn,
      onProgress: opts.onProgress && ((fed, written) => opts.onProgress!({ bars: fed, expected: total, points: written, weight })),
    }));
    return { bars, points, ms: performance.now() - t0, storedBars, skippedLines: recorded?.skipped ?? 0, warmFrom };
  } finally {
    await Promise.allSettled([rest?.close(), store?.close()]);
  }
}

/** A run's side of the output: `feed` gives a page's lines (throwing the run's failure). */
interface PointWriter {
  feed(page: Bar[], fmt: PointFormatter): string;
  /** After the last page: what was fed and written. */
  end(): { bars: number; points: number };
  close(): void;
}

type PointFormatter = ReturnType<typeof pointFormatter>;

interface EngineRunsConfig {
  /** The series' name, for messages. */
  name: string;
  /** A fresh operator (one per anchored run). */
  build: () => OperatorFunction<Bar, SeriesPoint>;
  blockMs: number;
  /** The input holds every bar from this open time on (see AnchoredRuns). */
  inputFrom: number;
  /** The source interval the pages are in, when the series' interval is built from it. */
  resampleFrom: string | undefined;
  interval: string;
  /** Closed points in [pointsFrom, pointsTo] are written. */
  pointsFrom: number;
  pointsTo: number;
  warn: (message: string) => void;
  onProgress?: (fed: number, written: number) => void;
}

/**
 * The engine's runs of a series (series-run.ts `openRun`: `AnchoredRuns`, or one `startRun` for
 * `blockMs` 0), with its point checks, fed with pages of history. A page's points are written by
 * time; one emitted again for its time replaces it (as in a range), one for a time already written
 * is not (a file is not rewritten: counted and said).
 */
function engineRuns(config: EngineRunsConfig): PointWriter {
  const { name, build, blockMs, inputFrom, resampleFrom, interval, pointsFrom, pointsTo, warn, onProgress } = config;
  const pending = new Map<number, SeriesPoint>();
  let failure: unknown;
  let ended = false;
  let afterEnd = 0;
  const onPoint = (p: SeriesPoint) => {
    if (!p.closed || p.time < pointsFrom || p.time > pointsTo) return;
    if (ended) afterEnd++;
    else pending.set(p.time, p);
  };
  // An error once the input has ended (a check failing on what completion emits) only stops the count.
  let stoppedAtEnd = false;
  const onError = (e: unknown) => {
    if (ended) stoppedAtEnd = true;
    else failure ??= e ?? new Error('derived series failed');
  };
  // The engine's own runs and checks (the grid of the bars too).
  const runs = openSeriesRuns(build, blockMs, inputFrom, interval, onPoint, onError);
  // Closed bars only, as a range computes from history (a forming bar or bucket is not history).
  const sourceBars = resampleFrom === undefined ? undefined : new Subject<Bar>();
  const resampling: Subscription | undefined = sourceBars
    ?.pipe(resample(interval, { sourceInterval: resampleFrom! }), filter((b) => b.closed))
    .subscribe((b) => runs.next(b));
  const feedBar = (b: Bar) => {
    if (sourceBars) sourceBars.next(b);
    else if (b.closed) runs.next(b);
  };
  let fed = 0;
  let written = 0;
  let lastWritten = Number.NEGATIVE_INFINITY;
  let late = 0;
  return {
    feed(page, fmt) {
      for (let i = 0; i < page.length && failure === undefined; i++) feedBar(page[i]!);
      fed += page.length;
      if (failure !== undefined) throw failure;
      let chunk = '';
      for (const p of [...pending.values()].sort((a, b) => a.time - b.time)) {
        if (p.time <= lastWritten) {
          late++;
          continue;
        }
        chunk += fmt.line(p);
        lastWritten = p.time;
        written++;
      }
      pending.clear();
      onProgress?.(fed, written);
      return chunk;
    },
    end() {
      // The engine's input never completes, so it never shows what an operator emits on completion:
      // counted and said, not written.
      ended = true;
      runs.complete();
      if (afterEnd > 0) warn(`'${name}' emitted ${stoppedAtEnd ? 'at least ' : ''}${afterEnd} point${afterEnd === 1 ? '' : 's'} only when its input ended: not written (the engine's input never ends, so it never shows them)`);
      if (late > 0) warn(`'${name}' emitted ${late} point${late === 1 ? '' : 's'} for times already written (late corrections, or out of order): not written`);
      return { bars: fed, points: written };
    },
    close() {
      resampling?.unsubscribe();
      runs.stop();
    },
  };
}

/**
 * Writes what `writer`'s run gives to `out`, under a temporary name beside it, renamed over `out` once
 * all is written; on any failure the temporary file is removed and `out` is left as it was. (A path
 * that is not a regular file, `/dev/stdout` say, is written in place.)
 */
async function writePoints(out: string, format: PointFormat, pages$: Observable<Bar[]>, writer: PointWriter): Promise<{ bars: number; points: number }> {
  const inPlace = await stat(out).then((s) => !s.isFile(), () => false);
  const path = inPlace ? out : join(dirname(out), `.${basename(out)}.${process.pid}.${Date.now().toString(36)}.part`);
  const file = createWriteStream(path);
  let fileFailure: unknown;
  file.on('error', (e) => (fileFailure ??= e));
  // Waits for the file to take more, failing if it breaks meanwhile.
  const drained$ = race(fromEvent(file, 'drain').pipe(take(1)), fromEvent(file, 'error').pipe(map((e) => { throw e; })));
  const fmt = pointFormatter(format);
  try {
    const feed = (page: Bar[]): Observable<unknown> => {
      const chunk = writer.feed(page, fmt);
      if (fileFailure) throw fileFailure;
      return chunk && !file.write(chunk) ? drained$ : of(0);
    };
    let result: { bars: number; points: number };
    try {
      await lastValueFrom(pages$.pipe(concatMap(feed)), { defaultValue: 0 });
      result = writer.end();
    } finally {
      writer.close();
    }
    file.end(fmt.header());
    await finished(file);
    if (!inPlace) await rename(path, out);
    return result;
  } catch (e) {
    file.destroy();
    if (!inPlace) await rm(path, { force: true });
    throw e;
  }
}

/** The first bucket of `interval` opening at or after `t`. */
function openAtOrAfter(t: number, interval: Interval): number {
  const open = bucketOpen(t, interval);
  return open < t ? nextOpen(open, interval) : open;
}

const iso = (t: number) => new Date(t).toISOString();
