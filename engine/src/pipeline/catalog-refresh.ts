import { asyncScheduler, catchError, defer, EMPTY, exhaustMap, merge, type Observable, type ObservableInput, type SchedulerLike, throttleTime, timer } from 'rxjs';

export interface CatalogRefreshConfig<T> {
  /** Loads the markets and applies them; emits what changed. */
  load: () => ObservableInput<T>;
  /** Refresh period (hourly). */
  everyMs: number;
  /** Asks for a refresh now (a -1121 for a listed symbol); at most one per `minGapMs`. */
  now$: Observable<unknown>;
  minGapMs?: number;
  onError?: (err: unknown) => void;
  scheduler?: SchedulerLike;
}

/**
 * Refreshes the catalog every `everyMs` and whenever asked, one load at a time (a request while one
 * runs is dropped: the running one answers it). A failed load is reported and the next tick retries.
 *
 * ```
 * now$:    ---x-x------------x--
 * timer:   ----------T----------T
 * loads:   ---(L)----(L)-----(L)(L)
 * ```
 * @param load one refresh; its emissions are passed on
 * @param everyMs period of the scheduled refresh
 * @param now$ on-demand refresh requests, throttled to one per `minGapMs` (default 10 s)
 * @param onError told about a failed load (the stream goes on)
 */
export function catalogRefresh$<T>(config: CatalogRefreshConfig<T>): Observable<T> {
  const { load, everyMs, now$, minGapMs = 10_000, onError, scheduler = asyncScheduler } = config;
  if (!(everyMs > 0)) throw new TypeError('catalogRefresh$: everyMs must be > 0');
  return merge(timer(everyMs, everyMs, scheduler), now$.pipe(throttleTime(minGapMs, scheduler))).pipe(
    exhaustMap(() =>
      defer(load).pipe(
        catchError((e: unknown) => {
          onError?.(e);
          return EMPTY;
        }),
      ),
    ),
  );
}
