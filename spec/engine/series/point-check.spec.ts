import { describe, expect, it } from 'vitest';
import { pointProblem } from '../../../engine/src/series/point-check.ts';

describe('pointProblem: what an operator emits, checked before the wire', () => {
  it('takes single- and multi-valued points, with NaN, Infinity, null or no value', () => {
    for (const p of [
      { time: 60_000, value: 1.5, closed: true },
      { time: 0, value: Number.NaN, closed: false },
      { time: 60_000, value: Number.POSITIVE_INFINITY, closed: true },
      { time: 60_000, value: null, closed: true },
      { time: 60_000, closed: true },
      { time: 60_000, values: { macd: 1, signal: Number.NaN, histogram: -2 }, closed: false },
    ])
      expect(pointProblem(p)).toBeUndefined();
  });

  it('refuses what would not serialize as a point, saying why', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /must be an object.*got null/],
      [42, /must be an object.*got number/],
      [{ time: '60000', value: 1, closed: true }, /time must be an integer.*the string "60000"/],
      [{ time: 1.5, value: 1, closed: true }, /time must be an integer/],
      [{ value: 1, closed: true }, /time must be an integer.*got nothing/],
      [{ time: 60_000, value: 1 }, /closed must be true or false, got nothing/],
      [{ time: 60_000, value: 1, closed: 1 }, /closed must be true or false, got number/],
      [{ time: 60_000, value: 'x1', closed: true }, /value must be a number, got the string "x1"/],
      [{ time: 60_000, values: [1, 2], closed: true }, /values must be an object of numbers, got an array/],
      [{ time: 60_000, values: { a: '1' }, closed: true }, /value 'a' must be a number/],
      [{ time: 60_000, values: { 'a"b': 1 }, closed: true }, /value name .* is not a plain name/],
      [{ time: 60_000, values: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`v${i}`, i])), closed: true }, /more than 16 values/],
    ];
    for (const [p, why] of cases) expect([p, pointProblem(p)]).toEqual([p, expect.stringMatching(why)]);
  });

  it('refuses a Promise and handles its rejection (nobody awaits it)', async () => {
    let unhandled = 0;
    const count = () => unhandled++;
    process.on('unhandledRejection', count);
    try {
      const p = Promise.reject(new Error('async boom'));
      expect(pointProblem(p)).toMatch(/a point was a Promise/);
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toBe(0);
    } finally {
      process.off('unhandledRejection', count);
    }
  });
});
