import { catchError, from, lastValueFrom, mergeMap, Observable, of, reduce, retry, timer } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { BinanceRestError } from '../domain/errors.ts';
import { intervalMs, nextOpen } from '../domain/interval.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { Logger } from '../log.ts';
import type { BinanceRest } from '../sources/binance-rest.ts';
import type { RestPriority } from '../sources/rest-gate.ts';
import type { BarStore } from '../store/bar-store.ts';

export type BootstrapResult = { id: SeriesId; outcome: 'loaded' | 'invalid-symbol'; fetched: number };

export interface BootstrapDeps {
  rest: BinanceRest;
  store: BarStore;
  bufferSize: number;
  concurrency: number;
  log: Logger;
  now?: () => number;
  /** Delay before a series whose bootstrap failed is tried again. */
  retryDelayMs?: number;
  /**
   * A load unsubscribed before it finished has ended (its REST call cannot be taken back): whatever
   * it put in the store (a window `restore` opened) belongs to nobody unless the series is wanted again.
   */
  abandoned?: (id: SeriesId) => void;
  /** The REST lane: 'start' for an on-demand series a client asked for (RestGate; default 'live'). */
  priority?: RestPriority;
}

/**
 * Loads every series: what the store already holds, then only the missing tail from REST (or the
 * newest BUFFER_SIZE bars when nothing useful is stored). Emits each series as it finishes, so its
 * live pipeline can start at once. A symbol the exchange rejects (-1121) is reported and skipped; any
 * other failure is retried with backoff until it succeeds.
 */
export function bootstrap$(series: readonly SeriesId[], deps: BootstrapDeps): Observable<BootstrapResult> {
  return from(series).pipe(mergeMap((id) => loadSeries$(id, deps), deps.concurrency));
}

/**
 * One series: what the store holds, then the missing tail from REST (or the newest BUFFER_SIZE bars).
 * Lazy; unsubscribing aborts it. A -1121 comes out as 'invalid-symbol', anything else is retried.
 */
export function loadSeries$(id: SeriesId, deps: Omit<BootstrapDeps, 'concurrency'>): Observable<BootstrapResult> {
  const now = deps.now ?? Date.now;
  // Unsubscribing cannot stop the awaits below, so they check: an abandoned load writes nothing
  // (before: its bars landed in the store after the series was freed, a window kept for nobody).
  const once = new Observable<BootstrapResult>((subscriber) => {
    let gone = false;
    const run = async (): Promise<BootstrapResult | undefined> => {
      const newest = await deps.store.restore(id);
      if (gone) return undefined;
      // Restart with a warm store: fetch from the newest stored bar (it may have been forming), or
      // from the first hole the last run left (a fill that failed there was only remembered in memory).
      const from = newest ? Math.min(newest.openTime, firstSuspect(deps.store.window(id).last(deps.bufferSize), id.interval) ?? Infinity) : undefined;
      const missing = from !== undefined ? Math.ceil((now() - from) / intervalMs(id.interval)) : Infinity;
      let bars: Bar[];
      if (from !== undefined && missing <= deps.bufferSize) {
        bars = await lastValueFrom(deps.rest.range$(id.symbol, id.interval, from, undefined, deps.priority).pipe(reduce((a, p) => (a.push(...p), a), [] as Bar[])), { defaultValue: [] });
      } else {
        bars = await deps.rest.latest(id.symbol, id.interval, deps.bufferSize, undefined, deps.priority);
      }
      if (gone) return undefined;
      deps.store.upsert(id, bars);
      return { id, outcome: 'loaded', fetched: bars.length };
    };
    run().then(
      (r) => {
        if (gone || !r) return deps.abandoned?.(id);
        subscriber.next(r);
        subscriber.complete();
      },
      (e: unknown) => (gone ? deps.abandoned?.(id) : subscriber.error(e)),
    );
    return () => {
      gone = true;
    };
  });
  return once.pipe(
    catchError((e: unknown) => {
      if (e instanceof BinanceRestError && e.info.code === -1121) return of<BootstrapResult>({ id, outcome: 'invalid-symbol', fetched: 0 });
      throw e;
    }),
    retry({
      delay: (e: unknown, attempt) => {
        deps.log.warn('bootstrap failed, will retry', { key: id.key, attempt, err: e as Error });
        return timer(Math.min(60_000, (deps.retryDelayMs ?? 2000) * 2 ** Math.min(attempt - 1, 5)));
      },
    }),
  );
}

/**
 * Open time of the first stored bar that must be fetched again: the first missing one between stored
 * bars, or a bar left forming before the newest (its final never came). undefined when the history is whole.
 */
export function firstSuspect(bars: readonly Bar[], interval: string): number | undefined {
  for (let i = 1; i < bars.length; i++) {
    const prev = bars[i - 1]!;
    if (!prev.closed) return prev.openTime;
    const expected = nextOpen(prev.openTime, interval);
    if (bars[i]!.openTime > expected) return expected;
  }
  return undefined;
}
