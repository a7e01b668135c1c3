import { concat, of, Subject, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { collapseReplay } from '../../../engine/src/pipeline/collapse-replay.ts';

const bar = (t: number, close: number): Bar => ({ openTime: t, open: 1, high: 9, low: 1, close, volume: close, closed: false });

function record(source$: Parameters<typeof collapseReplay>[0]) {
  const got: Array<number[] | string> = [];
  const sub = collapseReplay(source$).subscribe({
    next: (b) => got.push([b.openTime, b.close]),
    error: (e: unknown) => got.push(`error ${(e as Error).message}`),
    complete: () => got.push('complete'),
  });
  return { got, sub };
}

describe('collapseReplay', () => {
  it('sends what the source emits while subscribing as the last version per bar, in time order; later emissions pass through', () => {
    const live = new Subject<Bar>();
    // (a1 a2 b1) replayed, then b2, c1 live.
    const { got, sub } = record(concat(of(bar(2, 1), bar(1, 1), bar(1, 2), bar(2, 3)), live));
    expect(got).toEqual([
      [1, 2],
      [2, 3],
    ]);
    live.next(bar(2, 4));
    live.next(bar(2, 4));
    live.next(bar(3, 1));
    expect(got.slice(2)).toEqual([
      [2, 4],
      [2, 4],
      [3, 1],
    ]);
    live.complete();
    expect(got.at(-1)).toBe('complete');
    sub.unsubscribe();
  });

  it('completes after the replay when the source completed during it', () => {
    expect(record(of(bar(1, 1), bar(1, 2))).got).toEqual([[1, 2], 'complete']);
  });

  it('passes an error at once and drops what it held', () => {
    expect(record(concat(of(bar(1, 1)), throwError(() => new Error('boom')))).got).toEqual(['error boom']);
  });

  it('releases the source when unsubscribed', () => {
    const live = new Subject<Bar>();
    const { sub } = record(live);
    expect(live.observed).toBe(true);
    sub.unsubscribe();
    expect(live.observed).toBe(false);
  });
});
