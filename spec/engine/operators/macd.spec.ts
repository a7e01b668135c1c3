import { describe, expect, it } from 'vitest';
import { macd } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;
const point = (i: number, line: number, signal: number, closed: boolean) => ({
  time: t(i),
  values: { macd: line, signal, histogram: line - signal },
  closed,
});
// fast 1 (the close itself), slow 2 (seeded with an SMA, then weight 2/3), signal 1
const slowAfterD = (8 - 3) * (2 / 3) + 3;

describe('macd (marbles)', () => {
  operatorChecklist({
    operator: () => macd({ fastPeriod: 1, slowPeriod: 2, signalPeriod: 1 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 3, false), c: barAt(1, 5), d: barAt(2, 8, false) },
    expected: '---x-y-z-|',
    outputs: { x: point(1, 1, 1, false), y: point(1, 2, 2, true), z: point(2, 8 - slowAfterD, 8 - slowAfterD, false) },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('rejects bad periods with a TypeError naming the field', () => {
    expect(() => macd({ fastPeriod: 0 })).toThrow(/macd: fastPeriod/);
    expect(() => macd({ slowPeriod: 2.5 })).toThrow(/macd: slowPeriod/);
    expect(() => macd({ signalPeriod: -3 })).toThrow(/macd: signalPeriod/);
    expect(() => macd({ fastPeriod: 26, slowPeriod: 12 })).toThrow(/fastPeriod/);
  });
});
