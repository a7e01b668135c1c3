import { BINANCE_INTERVALS, type BinanceInterval, isNativeInterval, parseInterval } from '../domain/interval.ts';

/**
 * The native interval a custom interval is computed from: the coarsest Binance interval whose buckets
 * tile it exactly (45m ← 15m, 10m ← 5m, 3h ← 1h, 2d ← 1d, 2w ← 1w, 2M ← 1M). Coarse sources keep the
 * history cheap to fetch; every Binance interval is an exact aggregate of finer ones, so the result is
 * the same as from 1m.
 */
export function sourceIntervalFor(custom: string): BinanceInterval {
  if (parseInterval(custom).native) throw new TypeError(`interval '${custom}' is native; it needs no source`);
  const best = sourceAmong(custom, BINANCE_INTERVALS);
  if (!best) throw new TypeError(`interval '${custom}' cannot be built from any Binance interval`);
  return best;
}

/** Most source bars a custom series' history is built from (60 REST pages of 1,000). */
export const MAX_SOURCE_BARS = 60_000;

/**
 * The native interval the engine computes a custom interval from: the coarsest *configured* native
 * interval that tiles it, so it costs no upstream stream of its own (10m from a configured 1m or 5m);
 * but when that one is so fine that `bufferSize` custom bars of history would take more than
 * `MAX_SOURCE_BARS` of it (a 2d interval from 1m), the coarsest Binance interval that tiles it, which
 * the engine then streams too.
 */
export function customSource(custom: string, configured: readonly string[], bufferSize: number): BinanceInterval {
  const own = sourceAmong(custom, configured.filter(isNativeInterval));
  if (own && sourceRatio(custom, own) * (bufferSize + 1) <= MAX_SOURCE_BARS) return own;
  return sourceIntervalFor(custom);
}

/**
 * The coarsest of `available` native intervals whose buckets tile `target` (the target itself when it is
 * native and available), or undefined: what a run over bars of only those intervals can be built from.
 */
export function sourceAmong(target: string, available: readonly string[]): BinanceInterval | undefined {
  const c = parseInterval(target);
  let best: BinanceInterval | undefined;
  for (const name of BINANCE_INTERVALS) {
    if (!available.includes(name)) continue;
    const n = parseInterval(name);
    if (name === c.name || tiles(n.unit, n.count, n.ms, c.unit, c.count, c.ms)) best = name;
  }
  return best;
}

function tiles(nUnit: string, nCount: number, nMs: number, cUnit: string, cCount: number, cMs: number): boolean {
  if (cUnit === 'M') return nUnit === 'M' ? cCount % nCount === 0 : false;
  if (nUnit === 'M') return false;
  if (cUnit === 'w') return nUnit === 'w' ? cCount % nCount === 0 : false;
  // Weeks are Monday-aligned, days epoch-aligned: a day-or-finer source tiles any custom below a week
  // only when it divides it on the epoch grid.
  if (nUnit === 'w') return false;
  // A multi-day native (3d) is epoch-aligned in 3-day steps; it tiles only multiples of itself.
  return cMs % nMs === 0;
}

/** How many source bars make one custom bar (nominal for months). */
export function sourceRatio(custom: string, source: string): number {
  return Math.round(parseInterval(custom).ms / parseInterval(source).ms);
}
