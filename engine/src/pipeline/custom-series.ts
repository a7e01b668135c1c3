import { concat, defer, EMPTY, filter, from, lastValueFrom, mergeMap, type Observable, of, startWith, switchMap, toArray } from 'rxjs';
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
 * input from that bucket's first on (else the bucket stays as it was: never rebuilt from part of its
 * inputs). A replay (at start too) sends each bucket once, in its last version, not every partial one.
 */
export function customSeries$(id: SeriesId, source: SeriesId, store: BarStore, sourceBars$: Observable<Bar>, sourceRepairs$: Observable<Bar> = EMPTY): Observable<Bar> {
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
      }).pipe(resample(id.interval, { sourceInterval: source.interval })),
    );
  // One rebuild per burst of repaired bars, from the oldest bucket not rebuilt yet. A burst judged
  // while a newer hole is still open (holes are repaired one after another) waits for the window to
  // be whole from it: dropped, its buckets stayed built from part of their inputs for good (a review).
  // Meanwhile a burst whose own bucket is whole on is rebuilt from it (a hole that never fills must
  // not hold every later rebuild back), and one left out of the window is forgotten.
  const rebuilds$ = defer(() => {
    let pending: number | undefined;
    return sourceRepairs$.pipe(
      repairBursts(),
      mergeMap((oldest) => {
        const bars = store.window(source).before(Infinity, store.window(source).size);
        const bucket = bucketOpen(oldest, id.interval);
        if (pending !== undefined && !(bars[0] && bars[0].openTime <= pending)) pending = undefined;
        pending = Math.min(pending ?? Infinity, bucket);
        if (wholeFrom(bars, pending, source.interval)) {
          const from_ = pending;
          pending = undefined;
          return of(from_);
        }
        return bucket !== pending && wholeFrom(bars, bucket, source.interval) ? of(bucket) : EMPTY;
      }),
    );
  });
  return rebuilds$.pipe(
    startWith(undefined),
    switchMap((bucket) => run(bucket)),
  );
}

/** The window's bars from `bucket` on start at `bucket` and follow each other with no hole. */
function wholeFrom(bars: readonly Bar[], bucket: number, sourceInterval: string): boolean {
  const i = bars.findIndex((b) => b.openTime >= bucket);
  if (i < 0 || bars[i]!.openTime !== bucket) return false;
  for (let k = i + 1; k < bars.length; k++) if (bars[k]!.openTime !== nextOpen(bars[k - 1]!.openTime, sourceInterval)) return false;
  return true;
}
