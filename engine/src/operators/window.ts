import type { Kernel } from './forming-aware.ts';

/** `window` with `x` appended, keeping the newest `size` values (a new array: kernels stay pure). */
export function slide(window: readonly number[], x: number, size: number): readonly number[] {
  const next = window.length < size ? window.slice() : window.slice(1);
  next.push(x);
  return next;
}

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Population standard deviation around `m` (what Bollinger Bands use). */
export function populationStdDev(values: readonly number[], m: number): number {
  let sq = 0;
  for (const v of values) sq += (v - m) * (v - m);
  return Math.sqrt(sq / values.length);
}

const scratch: number[] = [];

/** As `slide`, into one shared scratch array: only for a value read at once and thrown away (a preview). */
function slideScratch(window: readonly number[], x: number, size: number): readonly number[] {
  scratch.length = 0;
  for (let i = window.length < size ? 0 : 1; i < window.length; i++) scratch.push(window[i]!);
  scratch.push(x);
  return scratch;
}

/**
 * A kernel over the last `period` numbers: `valueOf` sees the full window. Previews of a forming bar
 * reuse a scratch array instead of copying the window, so a live update allocates nothing.
 */
export function windowKernel<V>(period: number, valueOf: (window: readonly number[]) => V): Kernel<readonly number[], V, number> {
  return {
    initial: [],
    step: (window, x) => {
      const next = slide(window, x, period);
      return [next, next.length === period ? valueOf(next) : undefined];
    },
    preview: (window, x) => {
      const next = slideScratch(window, x, period);
      return next.length === period ? valueOf(next) : undefined;
    },
  };
}
