import { describe, expect, it } from 'vitest';
import { sma, smaKernel } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, runSync, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;

describe('sma (marbles)', () => {
  operatorChecklist({
    operator: () => sma({ period: 2 }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 2, false), c: barAt(1, 3), d: barAt(2, 5, false) },
    expected: '---x-y-z-|',
    outputs: { x: { time: t(1), value: 1.5, closed: false }, y: { time: t(1), value: 2, closed: true }, z: { time: t(2), value: 4, closed: false } },
    unsub: '^-----!',
    unsubExpected: '---x-y',
  });

  it('reads the configured source', () => {
    const bars = [barAt(0, 1, true, { volume: 4 }), barAt(1, 1, true, { volume: 8 })];
    expect(runSync(bars, sma({ period: 2, source: 'volume' })).map((p) => p.value)).toEqual([6]);
  });

  it('rejects a bad period or source with a TypeError naming the field', () => {
    expect(() => sma({ period: 0 })).toThrow(/period/);
    expect(() => sma({ period: 2.5 })).toThrow(TypeError);
    expect(() => sma({ period: 2, source: 'median' as never })).toThrow(/source/);
    expect(() => sma({ period: 2, historyLength: 0 })).toThrow(/historyLength/);
  });

  it('smaKernel: a NaN counts only while it is in the window, step and preview alike (reproduced: NaN for period - 1 numbers more)', () => {
    const k = smaKernel(3);
    const xs = [1, NaN, 3, 4, 5, 6, 7, 8];
    let s = k.initial;
    const stepped: Array<number | undefined> = [];
    const previewed: Array<number | undefined> = [];
    for (const x of xs) {
      previewed.push(k.preview!(s, x));
      const [n, v] = k.step(s, x);
      stepped.push(v);
      s = n;
    }
    expect(stepped).toEqual([undefined, undefined, NaN, NaN, 4, 5, 6, 7]);
    expect(previewed).toEqual(stepped);
  });
});
