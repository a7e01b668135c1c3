import { describe, expect, it } from 'vitest';
import { wma } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;

describe('wma (marbles)', () => {
  // period 2: (older · 1 + newer · 2) / 3
  operatorChecklist({
    operator: () => wma({ period: 2 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 4, false), c: barAt(1, 7), d: barAt(2, 1, false) },
    expected: '---x-y-z-|',
    outputs: { x: { time: t(1), value: 3, closed: false }, y: { time: t(1), value: 5, closed: true }, z: { time: t(2), value: 3, closed: false } },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('rejects a bad period with a TypeError naming it', () => {
    expect(() => wma({ period: 0 })).toThrow(/wma: period/);
  });
});
