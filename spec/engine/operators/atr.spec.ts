import { describe, expect, it } from 'vitest';
import { atr } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, runSync, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;
const hl = (i: number, close: number, high: number, low: number, closed = true) => barAt(i, close, closed, { high, low });

describe('atr (marbles)', () => {
  // period 1: the ATR is the true range; the first bar only supplies the previous close
  operatorChecklist({
    operator: () => atr({ period: 1 }),
    source: '-a-b-c-d-|',
    inputs: { a: hl(0, 10, 11, 9), b: hl(1, 12, 13, 10, false), c: hl(1, 12, 14, 10), d: hl(2, 12, 12, 8, false) },
    expected: '---x-y-z-|',
    outputs: { x: { time: t(1), value: 3, closed: false }, y: { time: t(1), value: 4, closed: true }, z: { time: t(2), value: 4, closed: false } },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('seeds with the mean true range, then smooths with Wilder', () => {
    const bars = [hl(0, 10, 11, 9), hl(1, 12, 13, 10), hl(2, 12, 14, 10), hl(3, 9, 12, 8)];
    // true ranges: 3, 4, 4 → seed (3 + 4) / 2, then (3.5 · 1 + 4) / 2
    expect(runSync(bars, atr({ period: 2 })).map((p) => p.value)).toEqual([3.5, 3.75]);
  });

  it('rejects a bad period with a TypeError naming it', () => {
    expect(() => atr({ period: 0 })).toThrow(/atr: period/);
  });
});
