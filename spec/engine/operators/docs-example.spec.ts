import { describe, expect, it } from 'vitest';
import { emaKernel, formingAware, type Kernel } from '../../../engine/src/operators/index.ts';
import { barAt, runSync } from '../../helpers/marbles.ts';

// The custom operator from docs/operators.md §4, kept here so the walk-through stays true.
function emaCross({ fast = 9, slow = 21 } = {}) {
  if (!(fast < slow)) throw new TypeError(`emaCross: fast (${fast}) must be below slow (${slow})`);
  const f = emaKernel(fast);
  const s = emaKernel(slow);
  const kernel: Kernel<{ f: typeof f.initial; s: typeof s.initial }, number> = {
    initial: { f: f.initial, s: s.initial },
    step: (state, bar) => {
      const [nf, vf] = f.step(state.f, bar.close);
      const [ns, vs] = s.step(state.s, bar.close);
      return [{ f: nf, s: ns }, vf === undefined || vs === undefined ? undefined : Math.sign(vf - vs)];
    },
  };
  return formingAware(kernel, { operator: 'emaCross', point: (time, value, closed) => ({ time, value, closed }) });
}

describe('docs/operators.md example', () => {
  it('emaCross previews a forming flip and commits only the close', () => {
    const rising = [1, 2, 3, 4].map((c, i) => barAt(i, c));
    const out = runSync([...rising, barAt(4, 0, false), barAt(4, 5)], emaCross({ fast: 2, slow: 3 }));
    expect(out.map((p) => [p.value, p.closed])).toEqual([
      [1, true],
      [1, true],
      [-1, false],
      [1, true],
    ]);
    expect(() => emaCross({ fast: 5, slow: 5 })).toThrow(TypeError);
  });
});
