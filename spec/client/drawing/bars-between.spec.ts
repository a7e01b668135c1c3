import { describe, expect, it } from 'vitest';
import { barsBetween } from '../../../client/src/drawing/bars-between.ts';

const MIN = 60_000;
const t0 = Date.UTC(2026, 0, 5, 10, 0);

describe('barsBetween: the price-range measure counts bars from its points’ times', () => {
  it('counts the bars of the interval shown, either way round', () => {
    expect(barsBetween(t0, t0 + 75 * MIN, { type: 'minute', span: 5 })).toBe(15);
    expect(barsBetween(t0 + 75 * MIN, t0, { type: 'minute', span: 5 })).toBe(15);
  });

  it('counts again on another interval (15 bars of 5m are 1 bar of 1h plus a part)', () => {
    expect(barsBetween(t0, t0 + 75 * MIN, { type: 'hour', span: 1 })).toBe(1);
    expect(barsBetween(t0, t0 + 75 * MIN, { type: 'minute', span: 1 })).toBe(75);
  });

  it('counts whole bars for points inside their bars', () => {
    expect(barsBetween(t0 + 30 * MIN, t0 + 95 * MIN, { type: 'hour', span: 1 })).toBe(1);
    expect(barsBetween(t0, t0 + 3 * 86_400_000, { type: 'day', span: 1 })).toBe(3);
  });

  it('counts calendar months', () => {
    expect(barsBetween(Date.UTC(2025, 10, 1), Date.UTC(2026, 1, 1), { type: 'month', span: 1 })).toBe(3);
  });

  it('gives 0 for the same bar', () => {
    expect(barsBetween(t0, t0 + 20 * 1000, { type: 'minute', span: 1 })).toBe(0);
  });
});

describe('barsBetween on weeks', () => {
  it('counts Binance weeks (Monday opens)', () => {
    const monday = Date.UTC(2026, 0, 5);
    expect(barsBetween(monday, monday + 7 * 86_400_000 - 1, { type: 'week', span: 1 })).toBe(0);
    expect(barsBetween(monday - 1, monday, { type: 'week', span: 1 })).toBe(1);
  });
});
