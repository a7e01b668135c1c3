import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { SeriesWindow } from '../../../engine/src/store/series-window.ts';

const arbBar = fc.record({ openTime: fc.integer({ min: 0, max: 60 }).map((i) => i * 60_000), close: fc.integer({ min: 1, max: 5 }), closed: fc.boolean() }).map(
  ({ openTime, close, closed }): Bar => ({ openTime, open: 1, high: 9, low: 0, close, volume: 1, closed }),
);

describe('SeriesWindow (property)', () => {
  const arbRead = fc.record({ end: fc.integer({ min: -1, max: 61 }).map((i) => i * 60_000), limit: fc.integer({ min: 0, max: 45 }), n: fc.integer({ min: 0, max: 45 }) });
  test.prop([fc.array(arbBar, { maxLength: 200 }), fc.integer({ min: 1, max: 40 }), arbRead])('matches a naive model: sorted, unique, last write wins, newest kept', (bars, capacity, { end, limit, n }) => {
    const w = new SeriesWindow(capacity);
    const model = new Map<number, Bar>();
    for (const b of bars) {
      w.upsert(b);
      // Model: a bar older than everything kept while full is dropped; otherwise upsert then trim oldest.
      const keys = [...model.keys()].sort((a, z) => a - z);
      if (!model.has(b.openTime) && keys.length >= capacity && b.openTime < keys[0]!) continue;
      model.set(b.openTime, b);
      const sorted = [...model.keys()].sort((a, z) => a - z);
      while (sorted.length > capacity) model.delete(sorted.shift()!);
    }
    const expected = [...model.values()].sort((a, z) => a.openTime - z.openTime);
    expect(w.last(1000)).toEqual(expected);
    expect(w.size).toBeLessThanOrEqual(capacity);
    const times = expected.map((b) => b.openTime);
    expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
    expect(w.before(end, limit)).toEqual(limit ? expected.filter((b) => b.openTime <= end).slice(-limit) : []);
    expect(w.last(n)).toEqual(n ? expected.slice(-n) : []);
    expect(w.newestClosed()).toEqual([...expected].reverse().find((b) => b.closed));
  });
});
