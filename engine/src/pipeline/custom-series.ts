import { concat, defer, EMPTY, filter, from, lastValueFrom, map, merge, mergeMap, type Observable, share, startWith, switchMap, toArray } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { bucketOpen, nextOpen } from '../domain/interval.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { resample } from '../operators/resample.ts';
import type { BinanceRest } from '../sources/binance-rest.ts';
import type { RestPriority } from '../sources/rest-gate.ts';
import type { BarStore } from '../store/bar-store.ts';
import { collapseReplay } from './collapse-replay.ts';
import { MAX_SOURCE_BARS, sourceRatio } from './custom-intervals.ts';
import { repairBursts } from './repair-bursts.ts';


/** History of a custom-interval series: the source interval's bars from REST, resampled, stored. */
export async function bootstrapCustom(id: SeriesId, source: SeriesId, rest: BinanceRest, store: BarStore, bufferSize: number, priority?: RestPriority): Promise<number> {
  await store.restore(id);
  const ratio = sourceRatio(id.interval, source.interval);
  const wanted = Math.min((bufferSize + 1) * ratio, MAX_SOURCE_BARS);
  const bars = await rest.latest(source.symbol, source.interval, wanted, undefined, priority);
  const custom = await lastValueFrom(from(bars).pipe(resample(id.interval, { sourceInterval: source.interval }), toArray()));
  // Resample emits every update of a bucket; keep the last per open time.
  const last = new Map<number, Bar>();
  for (const b of custom) last.set(b.openTime, b);
  // Cut at `wanted` (not the exchange's first bar) mid-bucket: that oldest bucket holds part of its
  // inputs, closed; left out (a review: stored and served so until newer bars pushed it out).
  const first = bars[0];
  if (first && bars.length === wanted && bucketOpen(first.openTime, id.interval) !== first.openTime) last.delete(bucketOpen(first.openTime, id.interval));
  store.upsert(id, [...last.values()]);
  return last.size;
}

/**
 * Live custom-interval bars: the source series' bars from the custom series' newest bucket on (from
 * the source window, so that bucket is whole), then every source bar as it is written, resampled. It
 * heals as the source heals: bars spliced into the source after an outage flow through here in order.
 * No bucket is ever built from part of its inputs: source bars of buckets the custom history already
 * holds whole are not fed (the source can be behind that history, which was fetched after it); from
 * the first bucket on, the source is ordered and whole, so every bucket starts at its first bar.
 *
 * A hole the source repaired late (`sourceRepairs$`: bars older than its newest) rebuilds the custom
 * series from the repaired bucket on, replayed from the source window, if the window holds every
 * input from that bucket's first on. While a newer hole is still open, only the buckets whole up to
 * it are rebuilt (each closed, once); the rest waits for that hole. A bucket is never rebuilt from
 * part of its inputs. A replay (at start too) sends each bucket once, in its last version, not every
 * partial one.
 */
export function customSeries$(id: SeriesId, source: SeriesId, store: BarStore, sourceBars$: Observable<Bar>, sourceRepairs$: Observable<Bar> = EMPTY): Observable<Bar> {
  const resampled = resample(id.interval, { sourceInterval: source.interval });
  const run = (repaired?: number) =>
    collapseReplay(
      defer(() => {
        // Replay the source from the custom series' newest stored bucket: the source may have moved on
        // while the custom history was being fetched, and those bars must not be missed.
        const window = store.window(source);
        const customNewest = store.window(id).newest();
        const newest = window.newest();
        const fromNewest = customNewest ? customNewest.openTime : newest ? bucketOpen(newest.openTime, id.interval) : Infinity;
        const from_ = Math.min(fromNewest, repaired ?? Infinity);
        const seed = window.before(Infinity, window.size).filter((b) => b.openTime >= from_);
        // Buckets before `from_` are whole in the custom history already (fetched after them): a source
        // behind that history must not rebuild them from part of their inputs.
        const floor = Number.isFinite(from_) ? from_ : -Infinity;
        return concat(from(seed), sourceBars$).pipe(filter((bar) => bucketOpen(bar.openTime, id.interval) >= floor));
      }).pipe(resampled),
    );
  // One rebuild per burst of repaired bars, from the oldest bucket not rebuilt yet. A burst judged
  // while a newer hole is still open (holes are repaired one after another) rebuilds the buckets
  // whole before that hole at once and waits for the window to be whole from it for the rest:
  // dropped, its buckets stayed built from part of their inputs for good, and a hole the exchange
  // never fills must not hold them back (two reviews). A later burst whose own bucket is whole on is
  // rebuilt from it; one left out of the window is forgotten.
  const rebuilds$ = defer(() => {
    let pending: number | undefined;
    return sourceRepairs$.pipe(
      repairBursts(),
      map((oldest): Rebuild | undefined => {
        const bars = store.window(source).before(Infinity, store.window(source).size);
        const bucket = bucketOpen(oldest, id.interval);
        if (pending !== undefined && !(bars[0] && bars[0].openTime <= pending)) pending = undefined;
        pending = Math.min(pending ?? Infinity, bucket);
        if (wholeSpan(bars, pending, source.interval, id.interval).rest === 0) {
          const from_ = pending;
          pending = undefined;
          return { from: from_ };
        }
        const span = wholeSpan(bars, bucket, source.interval, id.interval);
        if (span.rest === 0) return { from: bucket };
        return span.bars.length > 0 ? { span: span.bars } : undefined;
      }),
      filter((r) => r !== undefined),
    );
  });
  return defer(() => {
    const shared$ = rebuilds$.pipe(share());
    const restarts$ = shared$.pipe(
      filter((r) => 'from' in r),
      map((r) => r.from),
      startWith(undefined),
      switchMap((bucket) => run(bucket)),
    );
    // Whole buckets before a hole still open: closed, each in its last version.
    const spans$ = shared$.pipe(mergeMap((r) => ('span' in r ? collapseReplay(from(r.span).pipe(resampled)) : EMPTY)));
    return merge(restarts$, spans$);
  });
}

type Rebuild = { from: number } | { span: readonly Bar[] };

/**
 * The window's bars from `bucket` on, in as many whole buckets as follow each other with no hole
 * (`bars`), and how many bars after them (`rest`: 0 when the window is whole from `bucket` to its
 * newest bar). `bars` is empty when the window does not start that bucket at its first input.
 */
function wholeSpan(bars: readonly Bar[], bucket: number, sourceInterval: string, interval: string): { bars: readonly Bar[]; rest: number } {
  const i = bars.findIndex((b) => b.openTime >= bucket);
  if (i < 0 || bars[i]!.openTime !== bucket) return { bars: [], rest: i < 0 ? 1 : bars.length - i };
  let k = i + 1;
  while (k < bars.length && bars[k]!.openTime === nextOpen(bars[k - 1]!.openTime, sourceInterval)) k++;
  if (k === bars.length) return { bars: bars.slice(i), rest: 0 };
  // The hole is after bars[k - 1]: the bucket it falls in lacks an input, and so is left out.
  const holeBucket = bucketOpen(nextOpen(bars[k - 1]!.openTime, sourceInterval), interval);
  let end = k;
  while (end > i && bars[end - 1]!.openTime >= holeBucket) end--;
  return { bars: bars.slice(i, end), rest: bars.length - end };
}
