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
