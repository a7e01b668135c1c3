import { emaKernel, formingAware, type Kernel } from '../../engine/src/operators/index.ts';

// The custom operator from docs/operators.md §4, kept here so the walk-through stays true.
export function emaCross({ fast = 9, slow = 21 } = {}) {
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
