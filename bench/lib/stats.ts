/** Median of the finite numbers (NaN when none). */
export function median(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Least-squares slope of y over x (per unit of x). */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

/** Rounds to `digits` significant digits (tables stay readable; JSON keeps the same values). */
export function sig(x: number, digits = 3): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

/** The value at quantile q (0..1) of xs: the element at floor(q·n) of the sorted values (NaN when empty). */
export function quantile(xs: readonly number[], q: number): number {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.floor(q * v.length))]! : NaN;
}

/** Groups values by time: a new group starts where the next time is more than `gap` after the previous one. */
export function groupByGap(entries: ReadonlyArray<readonly [time: number, value: number]>, gap: number): number[][] {
  const sorted = [...entries].sort((x, y) => x[0] - y[0]);
  const groups: number[][] = [];
  let last = -Infinity;
  for (const [t, v] of sorted) {
    if (t - last > gap || groups.length === 0) groups.push([]);
    groups[groups.length - 1]!.push(v);
    last = t;
  }
  return groups;
}

/**
 * A bootstrap interval for quantile q of `b` minus quantile q of `a`, where each sample is made of
 * groups whose values move together (the deliveries of one burst of updates: a late burst is late for
 * every client), so groups are resampled whole. Percentile interval at `level`, from a seeded
 * generator so a run's figures can be recomputed. It says how far a difference of two tail quantiles
 * measured in separate windows can be trusted: one or two late bursts more or less move a p99 a lot.
 */
export function quantileDiffInterval(
  a: readonly number[][],
  b: readonly number[][],
  q: number,
  o: { iterations?: number; level?: number; seed?: number } = {},
): { low: number; high: number } {
  if (!a.length || !b.length) return { low: NaN, high: NaN };
  const { iterations = 2000, level = 0.95, seed = 1 } = o;
  let s = seed >>> 0;
  // mulberry32: small, fast and good enough for resampling.
  const random = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const resampled = (groups: readonly number[][]) => {
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) for (const v of groups[Math.floor(random() * groups.length)]!) out.push(v);
    return quantile(out, q);
  };
  const diffs: number[] = [];
  for (let i = 0; i < iterations; i++) diffs.push(resampled(b) - resampled(a));
  diffs.sort((x, y) => x - y);
  const tail = (1 - level) / 2;
  return { low: diffs[Math.floor(tail * (iterations - 1))]!, high: diffs[Math.ceil((1 - tail) * (iterations - 1))]! };
}
