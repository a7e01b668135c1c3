import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { BYTES_PER_BAR, BYTES_PER_BAR_WIDE } from '../../../engine/src/store/bar-columns.ts';
import { SeriesWindow } from '../../../engine/src/store/series-window.ts';

const M = 60_000;
const bar = (i: number, close = 100 + i, closed = true): Bar => ({ openTime: i * M, open: 100, high: 200, low: 50, close, volume: i, closed });

describe('SeriesWindow', () => {
  it('rejects a capacity below 1 or not an integer', () => {
    expect(() => new SeriesWindow(0)).toThrow(TypeError);
    expect(() => new SeriesWindow(2.5)).toThrow(TypeError);
  });

  it('allocates columns as bars arrive, not the whole capacity up front', () => {
    const w = new SeriesWindow(1000);
    expect(w.bytes).toBe(0);
    w.upsert(bar(1));
    expect(w.bytes).toBe(8 * BYTES_PER_BAR);
    for (let i = 2; i <= 9; i++) w.upsert(bar(i));
    expect(w.bytes).toBe(16 * BYTES_PER_BAR);
    for (let i = 10; i <= 1500; i++) w.upsert(bar(i));
    expect([w.size, w.bytes]).toEqual([1000, 1000 * BYTES_PER_BAR]);
    expect(w.oldest()).toEqual(bar(501));
  });

  it('reserves room for a bulk load in one allocation, never beyond capacity', () => {
    const w = new SeriesWindow(1000);
    for (let i = 1; i <= 5; i++) w.upsert(bar(i));
    w.reserve(w.size + 600);
    expect(w.bytes).toBe(605 * BYTES_PER_BAR);
    for (let i = 6; i <= 605; i++) w.upsert(bar(i));
    expect([w.size, w.bytes]).toEqual([605, 605 * BYTES_PER_BAR]);
    w.reserve(5000);
    expect(w.bytes).toBe(1000 * BYTES_PER_BAR);
    w.reserve(10);
    expect(w.bytes).toBe(1000 * BYTES_PER_BAR);
    expect(w.last(2)).toEqual([bar(604), bar(605)]);
  });

  it('returns the upserted tip from newest() without building a bar', () => {
    const w = new SeriesWindow(4);
    const tip = bar(3, 5, false);
    w.upsert(bar(2));
    w.upsert(tip);
    expect(w.newest()).toBe(tip);
    w.upsert(bar(1));
    expect(w.newest()).toBe(tip);
  });

  it('reports how each upsert changed the window and bumps the version only on change', () => {
    const w = new SeriesWindow(3);
    expect(w.version).toBe(0);
    expect(w.upsert(bar(5))).toBe('appended');
    expect(w.upsert(bar(5, 1, false))).toBe('replaced');
    expect(w.upsert(bar(5, 1, false))).toBe('ignored');
    expect(w.version).toBe(2);
    expect(w.upsert(bar(7))).toBe('appended');
    expect(w.upsert(bar(6))).toBe('inserted');
    expect(w.upsert(bar(6, 9))).toBe('replaced');
    expect(w.last(10).map((b) => b.openTime / M)).toEqual([5, 6, 7]);
    // Full: older than the oldest kept would be trimmed at once.
    expect(w.upsert(bar(4))).toBe('ignored');
    expect(w.upsert(bar(8))).toBe('appended');
    expect(w.last(10).map((b) => b.openTime / M)).toEqual([6, 7, 8]);
    expect(w.version).toBe(6);
  });

  it('inserts into a gap and trims the oldest beyond capacity', () => {
    const w = new SeriesWindow(3);
    for (const i of [1, 3, 5]) w.upsert(bar(i));
    expect(w.upsert(bar(4))).toBe('inserted');
    expect(w.last(10).map((b) => b.openTime / M)).toEqual([3, 4, 5]);
    expect(w.size).toBe(3);
    expect(w.oldest()).toEqual(bar(3));
    expect(w.newest()).toEqual(bar(5));
  });

  it('reads the newest bars and older pages, oldest first, as copies', () => {
    const w = new SeriesWindow(10);
    for (let i = 1; i <= 6; i++) w.upsert(bar(i, 1, i < 6 ? true : false));
    expect(w.last(2)).toEqual([bar(5, 1), bar(6, 1, false)]);
    expect(w.last(0)).toEqual([]);
    expect(w.before(4 * M, 2)).toEqual([bar(3, 1), bar(4, 1)]);
    expect(w.before(4 * M + 1, 10).length).toBe(4);
    expect(w.before(0, 5)).toEqual([]);
    expect(w.newestClosed()).toEqual(bar(5, 1));
    const page = w.last(3);
    page.pop();
    expect(w.size).toBe(6);
  });

  it('keeps open times as whole seconds (45 B a bar), and switches a window to float64 ones for good when a bar is not on a second', () => {
    const w = new SeriesWindow(8);
    for (let i = 1; i <= 5; i++) w.upsert(bar(i));
    expect(w.bytes).toBe(8 * BYTES_PER_BAR);
    // Up to 2106 in seconds: a far-future time still fits.
    const late: Bar = { ...bar(0), openTime: (2 ** 32 - 1) * 1000 };
    // Off whole seconds, before 1970, or beyond 2106: the window goes wide and keeps every bar as it was.
    const odd: Bar = { ...bar(7), openTime: 7 * M + 1 };
    expect(w.upsert(odd)).toBe('appended');
    expect(w.bytes).toBe(8 * BYTES_PER_BAR_WIDE);
    expect(w.last(10)).toEqual([bar(1), bar(2), bar(3), bar(4), bar(5), odd]);
    expect(w.upsert(bar(6))).toBe('inserted');
    expect(w.upsert(late)).toBe('appended');
    expect(w.last(10).map((b) => b.openTime)).toEqual([M, 2 * M, 3 * M, 4 * M, 5 * M, 6 * M, 7 * M + 1, (2 ** 32 - 1) * 1000]);
    expect(w.upsert({ ...odd, close: 1 })).toBe('replaced');
    expect(w.before(7 * M + 1, 1)).toEqual([{ ...odd, close: 1 }]);
    for (const t of [-M, 2 ** 32 * 1000, 0.5]) {
      const v = new SeriesWindow(4);
      v.upsert(bar(0));
      v.upsert({ ...bar(0), openTime: t });
      expect(v.bytes).toBe(4 * BYTES_PER_BAR_WIDE);
      expect(v.last(4).map((b) => b.openTime)).toEqual([0, t].sort((a, z) => a - z));
    }
  });

  it('is empty at first', () => {
    const w = new SeriesWindow(2);
    expect([w.size, w.newest(), w.oldest(), w.newestClosed(), w.last(5), w.before(1e15, 5)]).toEqual([0, undefined, undefined, undefined, [], []]);
  });
});
