import { describe, expect, it } from 'vitest';
import { formingAware, type Kernel } from '../../../engine/src/operators/index.ts';
import { pointOf } from '../../../engine/src/operators/forming-aware.ts';
import { barAt, MINUTE, operatorChecklist, runSync, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;
// Running sum of closes: any forming update that leaked into the state would show at once.
const sum: Kernel<number, number> = { initial: 0, step: (s, bar) => [s + bar.close, s + bar.close] };
const summing = (historyLength?: number) => formingAware(sum, { operator: 'sum', point: pointOf, historyLength });
const p = (i: number, value: number, closed = true) => pointOf(t(i), value, closed);

describe('formingAware (marbles)', () => {
  operatorChecklist({
    operator: () => summing(),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 5, false), c: barAt(1, 2), d: barAt(2, 4, false) },
    expected: '-w-x-y-z-|',
    outputs: { w: p(0, 1), x: p(1, 6, false), y: p(1, 3), z: p(2, 7, false) },
    unsub: '^----!',
    unsubExpected: '-w-x-',
  });
});

describe('formingAware', () => {
  it('previews every forming update from the committed state, never accumulating', () => {
    const out = runSync([barAt(0, 1), barAt(1, 5, false), barAt(1, 7, false), barAt(1, 9, false), barAt(1, 2)], summing());
    expect(out).toEqual([p(0, 1), p(1, 6, false), p(1, 8, false), p(1, 10, false), p(1, 3)]);
  });

  it('drops forming bars not newer than the last closed bar and exact duplicates', () => {
    const out = runSync([barAt(0, 1), barAt(1, 2), barAt(1, 5, false), barAt(0, 3, false), barAt(1, 2)], summing());
    expect(out).toEqual([p(0, 1), p(1, 3)]);
  });

  it('recomputes from a corrected closed bar on, and from an inserted missing bar on', () => {
    const bars = [barAt(0, 1), barAt(1, 2), barAt(3, 4)];
    expect(runSync([...bars, barAt(1, 10)], summing())).toEqual([p(0, 1), p(1, 3), p(3, 7), p(1, 11), p(3, 15)]);
    expect(runSync([...bars, barAt(2, 100)], summing())).toEqual([p(0, 1), p(1, 3), p(3, 7), p(2, 103), p(3, 107)]);
    // a preview after the correction builds on the corrected state
    expect(runSync([...bars, barAt(1, 10), barAt(4, 1, false)], summing()).at(-1)).toEqual(p(4, 16, false));
  });

  it('drops corrections that reach back past historyLength', () => {
    const bars = [0, 1, 2, 3, 4, 5].map((i) => barAt(i, 1));
    const out = runSync([...bars, barAt(0, 50), barAt(4, 2)], summing(2));
    expect(out.slice(6)).toEqual([p(4, 6), p(5, 7)]);
  });
});
