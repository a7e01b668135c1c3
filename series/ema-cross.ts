import { type Bar, defineSeries, emaKernel, formingAware, type Kernel, onBars } from 'kline-engine';

/**
 * Fast and slow EMAs of the close, and a signal: +1 while fast is above slow, -1 below.
 * One kernel holds both EMAs so their values stay aligned bar by bar (and forming-aware).
 */
export default defineSeries({
  name: 'ema-cross',
  description: 'Fast/slow EMA of the close with a cross signal (+1 fast above, -1 below)',
  pane: 'overlay',
  plot: ['fast', 'slow'],
  params: { fast: 9, slow: 21 },
  ranges: { fast: { min: 1, max: 500 }, slow: { min: 2, max: 1000 } },
  // An EMA remembers every bar: two slow periods of history (at least the default 300) before the
  // first point asked for, so a long slow EMA still gives a point for every candle.
  warmup: ({ slow }) => Math.max(300, 2 * slow),
  operator: ({ fast, slow }) => {
    if (!(fast < slow)) throw new TypeError(`ema-cross: fast (${fast}) must be below slow (${slow})`);
    const f = onBars(emaKernel(fast), (b: Bar) => b.close);
    const s = onBars(emaKernel(slow), (b: Bar) => b.close);
    const both: Kernel<[typeof f.initial, typeof s.initial], { fast: number; slow: number; signal: number }> = {
      initial: [f.initial, s.initial],
      step: ([fs, ss], bar) => {
        const [f2, fv] = f.step(fs, bar);
        const [s2, sv] = s.step(ss, bar);
        const value = fv !== undefined && sv !== undefined ? { fast: fv, slow: sv, signal: fv > sv ? 1 : -1 } : undefined;
        return [[f2, s2], value];
      },
    };
    return formingAware(both, { operator: 'ema-cross', point: (time, values, closed) => ({ time, values, closed }) });
  },
});
