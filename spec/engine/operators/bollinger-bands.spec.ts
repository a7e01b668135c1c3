import { describe, expect, it } from 'vitest';
import { bollingerBands } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;
const bands = (i: number, upper: number, middle: number, lower: number, closed: boolean) => ({ time: t(i), values: { upper, middle, lower }, closed });

describe('bollingerBands (marbles)', () => {
  operatorChecklist({
    operator: () => bollingerBands({ period: 2, stdDev: 2 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 3, false), c: barAt(1, 5), d: barAt(2, 5, false) },
    expected: '---x-y-z-|',
    outputs: { x: bands(1, 4, 2, 0, false), y: bands(1, 7, 3, -1, true), z: bands(2, 5, 5, 5, false) },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('rejects a bad period or stdDev with a TypeError naming it', () => {
    expect(() => bollingerBands({ period: 0 })).toThrow(/bollingerBands: period/);
    expect(() => bollingerBands({ stdDev: 0 })).toThrow(/bollingerBands: stdDev/);
  });
});
