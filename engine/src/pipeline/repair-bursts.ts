import { buffer, debounceTime, filter, map, type Observable, type OperatorFunction, share } from 'rxjs';
import type { Bar } from '../domain/bar.ts';

/**
 * A series repairs a hole as a burst of bars in one go: what is built on it (custom intervals,
 * derived series) recomputes once per burst, from the oldest bar it holds. Emits that bar's open
 * time once the burst has ended (a timer of 0); the timer goes with the subscription.
 *
 * ```
 * repairs: (c a b)------(d)--|     one turn each
 * output:  ----a----------d--|     open times, one per burst
 * ```
 */
export function repairBursts(): OperatorFunction<Bar, number> {
  return (repairs$: Observable<Bar>) => {
    const shared$ = repairs$.pipe(share());
    return shared$.pipe(
      buffer(shared$.pipe(debounceTime(0))),
      filter((bars) => bars.length > 0),
      map((bars) => bars.reduce((t, b) => Math.min(t, b.openTime), Number.POSITIVE_INFINITY)),
    );
  };
}
