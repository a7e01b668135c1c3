import { describe, expect, it } from 'vitest';
import { rsi } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, runSync, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;

describe('rsi (marbles)', () => {
  // period 2 needs three closes: +1 then −1 gives 50; +1 then +1 (no loss) gives 100.
  operatorChecklist({
    operator: () => rsi({ period: 2 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 2), c: barAt(2, 1, false), d: barAt(2, 3) },
    expected: '-----x-y-|',
    outputs: { x: { time: t(2), value: 50, closed: false }, y: { time: t(2), value: 100, closed: true } },
    unsub: '^-----!',
    unsubExpected: '-----x',
  });

  it('smooths with Wilder after the seed', () => {
    // changes +1, −1 (seed: gain .5, loss .5), then +2: gain (.5 + 2) / 2, loss .5 / 2
    const out = runSync([barAt(0, 1), barAt(1, 2), barAt(2, 1), barAt(3, 3)], rsi({ period: 2 }));
    expect(out.map((p) => p.value)).toEqual([50, 100 - 100 / (1 + 1.25 / 0.25)]);
  });

  it('rejects a bad period with a TypeError naming it', () => {
    expect(() => rsi({ period: 0 })).toThrow(/rsi: period/);
  });
});
