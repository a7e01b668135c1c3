import { describe, expect, it } from 'vitest';
import { ema } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;

describe('ema (marbles)', () => {
  // period 2: seeded with the SMA of the first two closes, then weight 2/3 on the new close.
  operatorChecklist({
    operator: () => ema({ period: 2 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 5, false), c: barAt(1, 3), d: barAt(2, 5, false) },
    expected: '---x-y-z-|',
    outputs: { x: { time: t(1), value: 3, closed: false }, y: { time: t(1), value: 2, closed: true }, z: { time: t(2), value: 4, closed: false } },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('rejects a bad period with a TypeError naming it', () => {
    expect(() => ema({ period: -1 })).toThrow(/ema: period/);
    expect(() => ema({ period: NaN })).toThrow(TypeError);
  });
});
