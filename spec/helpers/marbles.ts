import { from, mergeMap, Observable, of, type OperatorFunction, take, toArray, firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect, it } from 'vitest';
import type { Bar } from '../../engine/src/domain/bar.ts';

/** The one TestScheduler factory: deep equality on frames and subscriptions. */
export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

export interface OperatorChecklist<T> {
  /** Builds a fresh operator for each test. */
  operator: () => OperatorFunction<Bar, T>;
  /** Hot source marble ending in `|`, e.g. `-a-b-c-|`. */
  source: string;
  inputs: Record<string, Bar>;
  /** Expected output marble ending in `|`, at the same frames. */
  expected: string;
  outputs: Record<string, T>;
  /** Subscription marble that unsubscribes early, and the output seen until then. */
  unsub: string;
  unsubExpected: string;
}

/** Input bars in the order the source marble emits them. */
function inputsInOrder(c: OperatorChecklist<unknown>): Bar[] {
  return [...c.source].filter((ch) => ch in c.inputs).map((ch) => c.inputs[ch]);
}

/**
 * The RxJS operator checklist, as `it` blocks: values and completion, error passthrough, early
 * unsubscribe (with the source's subscription), the `mergeMap(x => of(x))` chain, and a
 * synchronous source that `take` stops.
 */
export function operatorChecklist<T>(c: OperatorChecklist<T>): void {
  const subscribed = `^${'-'.repeat(c.source.length - 2)}!`;

  it('emits the expected values and completes with the source', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot(c.source, c.inputs);
      expectObservable(src.pipe(c.operator())).toBe(c.expected, c.outputs);
      expectSubscriptions(src.subscriptions).toBe(subscribed);
    });
  });

  it('passes an error through', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const err = new Error('upstream');
      const src = hot(c.source.replace(/\|$/, '#'), c.inputs, err);
      expectObservable(src.pipe(c.operator())).toBe(c.expected.replace(/\|$/, '#'), c.outputs, err);
    });
  });

  it('unsubscribes from the source when unsubscribed early', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot(c.source, c.inputs);
      expectObservable(src.pipe(c.operator()), c.unsub).toBe(c.unsubExpected, c.outputs);
      expectSubscriptions(src.subscriptions).toBe(c.unsub);
    });
  });

  it('works chained after mergeMap(x => of(x)) and before it', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot(c.source, c.inputs);
      const out = src.pipe(
        mergeMap((x) => of(x)),
        c.operator(),
        mergeMap((x) => of(x)),
      );
      expectObservable(out).toBe(c.expected, c.outputs);
      expectSubscriptions(src.subscriptions).toBe(subscribed);
    });
  });

  it('stops a synchronous source after take', async () => {
    const bars = inputsInOrder(c);
    const all = await firstValueFrom(from(bars).pipe(c.operator(), toArray()));
    expect(all.length).toBeGreaterThan(0);
    let sent = 0;
    const counting = new Observable<Bar>((sub) => {
      for (const b of bars) {
        if (sub.closed) break;
        sent++;
        sub.next(b);
      }
      sub.complete();
    });
    const first = await firstValueFrom(counting.pipe(c.operator(), take(1), toArray()));
    expect(first).toEqual([all[0]]);
    // The input that produced the first output is the last one pulled from the source.
    const firstProducing = bars.findIndex((_, i) => {
      let n = 0;
      from(bars.slice(0, i + 1)).pipe(c.operator()).subscribe(() => n++).unsubscribe();
      return n > 0;
    });
    expect(sent).toBe(firstProducing + 1);
    expect(sent).toBeLessThan(bars.length);
  });
}

/** A bar at minute `i` of a fixed epoch, with all prices equal to `close` unless given. */
export function barAt(i: number, close: number, closed = true, extra: Partial<Bar> = {}): Bar {
  return { openTime: T0 + i * MINUTE, open: close, high: close, low: close, close, volume: 1, closed, ...extra };
}

export const MINUTE = 60_000;
/** 2023-11-14T00:00:00Z, a day boundary. */
export const T0 = Date.UTC(2023, 10, 14);

/** Runs `operator` over `bars` synchronously and returns everything it emitted. */
export function runSync<T>(bars: readonly Bar[], operator: OperatorFunction<Bar, T>): T[] {
  const out: T[] = [];
  from(bars).pipe(operator).subscribe((x) => out.push(x)).unsubscribe(); // synchronous source
  return out;
}
