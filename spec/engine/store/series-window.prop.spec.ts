import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { BYTES_PER_BAR, BYTES_PER_BAR_WIDE } from '../../../engine/src/store/bar-columns.ts';
import { SeriesWindow } from '../../../engine/src/store/series-window.ts';

const arbBar = (maxSlot: number) =>
  fc
    .record({
      // Now and then a millisecond off a whole second: the window then keeps float64 open times.
      openTime: fc.tuple(fc.integer({ min: 0, max: maxSlot }), fc.integer({ min: 0, max: 19 })).map(([i, d]) => i * 60_000 + (d === 0 ? 1 : 0)),
      close: fc.integer({ min: 1, max: 5 }),
      // Any double a price can be (fractions, -0, huge): the columns must give back exactly what went in.
      volume: fc.oneof(fc.constant(1), fc.double({ noNaN: true })),
      closed: fc.boolean(),
    })
    .map(({ openTime, close, volume, closed }): Bar => ({ openTime, open: 1, high: 9, low: 0, close, volume, closed }));

/** The model: a sorted array of bars, rebuilt naively on every upsert. */
function modelUpsert(model: Bar[], b: Bar, capacity: number): 'appended' | 'replaced' | 'inserted' | 'ignored' {
  const i = model.findIndex((m) => m.openTime === b.openTime);
  if (i >= 0) {
    const m = model[i]!;
    const same = m.open === b.open && m.high === b.high && m.low === b.low && m.close === b.close && m.volume === b.volume && m.closed === b.closed;
    if (same) return 'ignored';
    model[i] = b;
    return 'replaced';
  }
  // A bar older than everything kept while full is dropped; otherwise insert, then trim the oldest.
  if (model.length >= capacity && b.openTime < model[0]!.openTime) return 'ignored';
  const appended = model.length === 0 || b.openTime > model.at(-1)!.openTime;
  model.push(b);
  model.sort((a, z) => a.openTime - z.openTime);
  while (model.length > capacity) model.shift();
  return appended ? 'appended' : 'inserted';
}

describe('SeriesWindow (property)', () => {
  const arbRead = fc.record({ end: fc.integer({ min: -1, max: 61 }).map((i) => i * 60_000), limit: fc.integer({ min: -2, max: 45 }), n: fc.integer({ min: -2, max: 45 }) });
  const arbReserve = fc.record({ at: fc.nat({ max: 200 }), n: fc.integer({ min: 0, max: 60 }) });
  test.prop([fc.array(arbBar(60), { maxLength: 200 }), fc.integer({ min: 1, max: 40 }), arbRead, fc.array(arbReserve, { maxLength: 3 })])('matches a naive model: sorted, unique, last write wins, newest kept', (bars, capacity, { end, limit, n }, reserves) => {
    const w = new SeriesWindow(capacity);
    const model: Bar[] = [];
    let changes = 0;
    for (const [i, b] of bars.entries()) {
      // A bulk load reserves room first: it changes the columns, never what the window holds.
      for (const r of reserves) if (r.at === i) w.reserve(w.size + r.n);
      const kind = modelUpsert(model, b, capacity);
      expect(w.upsert(b)).toBe(kind);
      if (kind !== 'ignored') changes++;
      expect(w.version).toBe(changes);
      expect(w.newest()).toEqual(model.at(-1));
    }
    expect(w.last(1000)).toEqual(model);
    expect(w.size).toBe(model.length);
    expect(w.size).toBeLessThanOrEqual(capacity);
    expect(w.oldest()).toEqual(model[0]);
    expect(w.before(end, limit)).toEqual(limit > 0 ? model.filter((b) => b.openTime <= end).slice(-limit) : []);
    expect(w.last(n)).toEqual(n > 0 ? model.slice(-n) : []);
    expect(w.newestClosed()).toEqual([...model].reverse().find((b) => b.closed));
    // Grows on demand: never more than capacity, never more than twice what it holds (beyond the first 8 slots).
    const reserved = Math.max(0, ...reserves.map((r) => r.n + bars.length));
    const perBar = bars.some((b) => b.openTime % 1000 !== 0) ? BYTES_PER_BAR_WIDE : BYTES_PER_BAR;
    expect(w.bytes).toBeLessThanOrEqual(Math.min(capacity, Math.max(8, 2 * w.size, reserved)) * perBar);
  });

  // Long streams that mostly append with late corrections and fills: the ring wraps many times over.
  const arbStream = fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 12 }), fc.boolean()), { minLength: 50, maxLength: 600 });
  test.prop([arbStream, fc.integer({ min: 1, max: 64 })])('keeps the newest `capacity` bars of a long stream with late corrections', (steps, capacity) => {
    const w = new SeriesWindow(capacity);
    const model: Bar[] = [];
    let t = 0;
    for (const [step, back, closed] of steps) {
      t += step;
      // Every other step corrects or fills a bar `back` slots behind the tip instead of advancing.
      const slot = back % 2 === 0 ? t : Math.max(0, t - back);
      const b: Bar = { openTime: slot * 60_000, open: t, high: t + 1, low: t - 1, close: t + 0.5, volume: step, closed };
      expect(w.upsert(b)).toBe(modelUpsert(model, b, capacity));
    }
    expect(w.last(capacity)).toEqual(model);
    expect(w.before(Infinity, capacity)).toEqual(model);
    expect(w.bytes).toBeLessThanOrEqual(capacity * BYTES_PER_BAR);
  });
});
