import { describe, expect, it } from 'vitest';
import { stddev } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;

describe('stddev (marbles)', () => {
  // population deviation of two values is half their distance
  operatorChecklist({
    operator: () => stddev({ period: 2 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 3, false), c: barAt(1, 5), d: barAt(2, 5, false) },
    expected: '---x-y-z-|',
    outputs: { x: { time: t(1), value: 1, closed: false }, y: { time: t(1), value: 2, closed: true }, z: { time: t(2), value: 0, closed: false } },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('rejects a bad period with a TypeError naming it', () => {
    expect(() => stddev({ period: 1.5 })).toThrow(/stddev: period/);
  });
});
