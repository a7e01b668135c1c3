import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PointWindow } from '../../../engine/src/series/point-window.ts';

/**
 * A naive model: a sorted map by time, newest `capacity` kept; an older-than-newest point replaces
 * its time's, or goes in when missing unless the map is full and it is older than all it holds.
 */
function model(capacity: number, times: number[]) {
  const kept = new Map<number, number>();
  let newest = -Infinity;
  times.forEach((t, i) => {
    if (t < newest && !kept.has(t) && kept.size >= capacity && t < Math.min(...kept.keys())) return;
    newest = Math.max(newest, t);
    kept.set(t, i);
    const sorted = [...kept.keys()].sort((a, b) => a - b);
    for (const old of sorted.slice(0, Math.max(0, sorted.length - capacity))) kept.delete(old);
  });
  return [...kept.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value }));
}

describe('PointWindow', () => {
  it('keeps exactly the newest `capacity` points whatever the upserts (trimmed in chunks inside)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 200 }), fc.integer({ min: 1, max: 10 }), (capacity, raw, n) => {
        // Mostly ascending times with some repeats and late corrections.
        let t = 0;
        const times = raw.map((d) => (d > 50 ? Math.max(0, t - (d - 50)) : (t += d % 3)));
        const w = new PointWindow(capacity);
        times.forEach((time, i) => w.upsert({ time, value: i, closed: true }));
        const want = model(capacity, times);
        const got = w.last(capacity).map((p) => ({ time: p.time, value: p.value }));
        expect(got).toEqual(want);
        expect(w.size).toBe(want.length);
        expect(w.last(n).map((p) => p.time)).toEqual(want.slice(-n).map((p) => p.time));
        const from = want[0]?.time ?? 0;
        expect(w.between(-Infinity, Infinity).map((p) => p.time)).toEqual(want.map((p) => p.time));
        expect(w.between(from + 1, Infinity).map((p) => p.time)).toEqual(want.filter((p) => p.time >= from + 1).map((p) => p.time));
        // `at` finds exactly the kept times, with their latest value.
        for (let time = -1; time <= 62; time++) expect(w.at(time)?.value).toBe(want.find((p) => p.time === time)?.value);
        // `atOrBefore` the newest kept at or before a time (a resume's point in force there).
        for (let time = -1; time <= 62; time++) expect(w.atOrBefore(time)?.time).toBe(want.filter((p) => p.time <= time).at(-1)?.time);
      }),
    );
  });
});
