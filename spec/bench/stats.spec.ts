import { describe, expect, it } from 'vitest';
import { groupByGap, quantile, quantileDiffInterval } from '../../bench/lib/stats.ts';

describe('bench statistics: tail quantiles of grouped deliveries', () => {
  it('quantile takes the element at floor(q·n) of the sorted values', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(xs, 0.5)).toBe(51);
    expect(quantile(xs, 0.99)).toBe(100);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('groups by gaps in time, whatever the order given', () => {
    const entries: Array<[number, number]> = [[2001, 5], [0, 1], [3, 2], [2000, 4], [1, 3]];
    expect(groupByGap(entries, 500)).toEqual([[1, 3, 2], [4, 5]]);
    expect(groupByGap([], 500)).toEqual([]);
  });

  it('a constant shift of every burst gives an interval of exactly that shift', () => {
    const a = Array.from({ length: 30 }, () => [1, 2, 3, 4, 5]);
    const b = a.map((g) => g.map((v) => v + 5));
    expect(quantileDiffInterval(a, b, 0.99)).toEqual({ low: 5, high: 5 });
    expect(quantileDiffInterval(a, b, 0.5)).toEqual({ low: 5, high: 5 });
  });

  it('one late burst in thirty makes the p99 difference of two like samples uncertain by about its lateness', () => {
    const usual = () => Array.from({ length: 20 }, (_, i) => 3 + i / 20);
    const sample = (late: number) => Array.from({ length: 30 }, (_, k) => (k === late ? usual().map((v) => v + 8) : usual()));
    const { low, high } = quantileDiffInterval(sample(3), sample(17), 0.99, { seed: 7 });
    expect(low).toBeLessThan(-4);
    expect(high).toBeGreaterThan(4);
    // The same seed, the same interval: a run's figures can be recomputed.
    expect(quantileDiffInterval(sample(3), sample(17), 0.99, { seed: 7 })).toEqual({ low, high });
  });
});
