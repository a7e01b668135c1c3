import { Observable } from 'rxjs';
import type { Bar } from '../domain/bar.ts';

/**
 * What `source$` emits while it is being subscribed (a synchronous replay of stored bars through an
 * aggregation that updates a bar once per input) comes out as the last version of each bar, in
 * open-time order, once the subscription is made; everything later passes straight through. A
 * replay would otherwise send a chart every partial version of a bar it already shows whole.
 * Errors pass through at once (what was held is dropped with the failed run).
 *
 * ```
 * source (sync on subscribe): (a1 a2 b1)--b2--c1--|
 * output:                     (a2 b1)----b2--c1--|
 * ```
 */
export function collapseReplay(source$: Observable<Bar>): Observable<Bar> {
  return new Observable<Bar>((subscriber) => {
    let replaying = true;
    let completed = false;
    const held = new Map<number, Bar>();
    const sub = source$.subscribe({
      next(bar) {
        if (replaying) held.set(bar.openTime, bar);
        else subscriber.next(bar);
      },
      error: (e: unknown) => subscriber.error(e),
      complete() {
        if (replaying) completed = true;
        else subscriber.complete();
      },
    });
    replaying = false;
    for (const bar of [...held.values()].sort((a, b) => a.openTime - b.openTime)) subscriber.next(bar);
    if (completed) subscriber.complete();
    return sub;
  });
}
