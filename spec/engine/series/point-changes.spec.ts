import { describe, expect, it } from 'vitest';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { changedSince, keptSame, samePoint } from '../../../engine/src/series/point-changes.ts';
import { PointWindow } from '../../../engine/src/series/point-window.ts';

const pt = (time: number, value: number, closed = true): SeriesPoint => ({ time, value, closed });
const windowOf = (...ps: SeriesPoint[]) => {
  const w = new PointWindow(100);
  for (const p of ps) w.upsert(p);
  return w;
};

describe('point changes', () => {
  it('samePoint compares the closed flag, the value and every value of a multi-valued point', () => {
    expect(samePoint(pt(1, 2), pt(1, 2))).toBe(true);
    expect(samePoint(pt(1, 2), pt(1, 3))).toBe(false);
    expect(samePoint(pt(1, 2, false), pt(1, 2))).toBe(false);
    const multi = (a: number) => ({ time: 1, closed: true, values: { upper: a, lower: 1 } });
    expect(samePoint(multi(2), multi(2))).toBe(true);
    expect(samePoint(multi(2), multi(3))).toBe(false);
    expect(samePoint(multi(2), pt(1, 2))).toBe(false);
  });

  it('keptSame: the window holds the point at its time with the same values, the newest or an older one', () => {
    const w = windowOf(pt(1, 10), pt(2, 20), pt(3, 30, false));
    expect(keptSame(w, pt(3, 30, false))).toBe(true);
    expect(keptSame(w, pt(3, 31, false))).toBe(false);
    expect(keptSame(w, pt(2, 20))).toBe(true);
    expect(keptSame(w, pt(2, 21))).toBe(false);
    // Absent: in a hole, or newer than all.
    expect(keptSame(windowOf(pt(1, 10), pt(3, 30)), pt(2, 20))).toBe(false);
    expect(keptSame(w, pt(4, 40))).toBe(false);
    expect(keptSame(windowOf(), pt(1, 1))).toBe(false);
  });

  it('changedSince: the points that differ from before or were not in it, older ones too', () => {
    const before = new Map([pt(2, 20), pt(4, 40), pt(5, 50)].map((p) => [p.time, p]));
    const now = windowOf(pt(1, 99), pt(2, 20), pt(3, 30), pt(4, 41), pt(5, 50), pt(6, 60));
    // 1 is older than all that was held (a run that had older bars), 3 filled a hole, 4 corrected, 6 new.
    expect(changedSince(before, now).map((p) => p.time)).toEqual([1, 3, 4, 6]);
    expect(changedSince(new Map(), now).map((p) => p.time)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('NaN, Infinity and null are the same value (all are sent as null): such points are not sent again after a restart (reproduced: NaN !== NaN re-sent every one)', () => {
    const multi = (a: number, b: number) => ({ time: 1, closed: true, values: { a, b } });
    expect(samePoint(pt(1, Number.NaN), pt(1, Number.NaN))).toBe(true);
    expect(samePoint(pt(1, Number.NaN), pt(1, Number.POSITIVE_INFINITY))).toBe(true);
    expect(samePoint({ time: 1, value: null as unknown as number, closed: true }, pt(1, Number.NaN))).toBe(true);
    expect(samePoint(multi(Number.NaN, 1), multi(Number.NEGATIVE_INFINITY, 1))).toBe(true);
    // A number and a non-finite one differ (null on the wire against a number).
    expect(samePoint(pt(1, Number.NaN), pt(1, 0))).toBe(false);
    expect(samePoint(multi(1, Number.NaN), multi(1, 2))).toBe(false);
    const before = new Map([pt(1, Number.NaN), pt(2, 20)].map((p) => [p.time, p]));
    expect(changedSince(before, windowOf(pt(1, Number.NaN), pt(2, 20), { time: 3, closed: true, values: { a: Number.NaN } })).map((p) => p.time)).toEqual([3]);
    expect(keptSame(windowOf(pt(1, 10), multi(Number.NaN, Number.POSITIVE_INFINITY) as SeriesPoint), multi(Number.NaN, Number.POSITIVE_INFINITY) as SeriesPoint)).toBe(true);
  });
});
