import type { KLineData } from 'klinecharts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { patchBars } from '../../../client/src/chart/patch-bars.ts';

const k = (t: number, close = t): KLineData => ({ timestamp: t, open: 1, high: 9, low: 0, close, volume: 1 });

describe('bars repaired behind the newest, put in the chart\'s list in place', () => {
  it('replaces a bar of a time the list has, inserts one it lacks in order, leaves out what is not behind the newest', () => {
    const list = [k(1), k(2), k(4), k(5)];
    const same = list;
    expect(patchBars(list, [k(2, 20), k(3, 30), k(0), k(5, 50), k(6)])).toBe(2);
    expect(list).toBe(same);
    expect(list.map((b) => [b.timestamp, b.close])).toEqual([[1, 1], [2, 20], [3, 30], [4, 4], [5, 5]]);
    expect(patchBars([], [k(1)])).toBe(0);
  });

  it('matches a model: the list stays sorted and unique, and every bar within its range wins over what was there', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { minLength: 1 }), fc.array(fc.record({ t: fc.integer({ min: -5, max: 65 }), close: fc.integer() })), (times, patches) => {
        const list = [...times].sort((a, b) => a - b).map((t) => k(t));
        const [first, last] = [list[0]!.timestamp, list.at(-1)!.timestamp];
        const model = new Map(list.map((b) => [b.timestamp, b.close]));
        for (const p of patches) if (p.t >= first && p.t < last) model.set(p.t, p.close);
        patchBars(list, patches.map((p) => k(p.t, p.close)));
        expect(list.map((b) => [b.timestamp, b.close])).toEqual([...model.entries()].sort((a, b) => a[0] - b[0]));
      }),
    );
  });
});
