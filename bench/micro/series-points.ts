/**
 * A live derived-series point into the browser's store, by how many points the series holds already
 * (a chart scrolled back all day holds up to MAX_POINTS per series): the cost per point at each size,
 * and its ratio to the smallest size in the same process (flat when a point does not copy the map).
 *
 *   npx tsx bench/micro/series-points.ts [sizes, default 1000,5000,21000]
 */
import { createStore } from 'zustand/vanilla';
import { initialMarketState, type MarketState } from '../../client/src/store/market.ts';
import { mergeSeriesPoint, mergeSeriesPoints } from '../../client/src/store/series-points.ts';

const sizes = (process.argv[2] ?? '1000,5000,21000').split(',').map(Number);
const LIVE = 2000;

function perPoint(size: number): number {
  const s = createStore<MarketState>(initialMarketState);
  mergeSeriesPoints('rsi', 'BTCUSDT', '1m', Array.from({ length: size }, (_, i) => ({ time: i * 60_000, values: { value: i } })), s);
  const t0 = performance.now();
  for (let i = 0; i < LIVE; i++) mergeSeriesPoint('rsi', 'BTCUSDT', '1m', (size + i) * 60_000, { value: i }, s);
  return (performance.now() - t0) / LIVE;
}

// A warm-up round, then the measured one.
for (const size of sizes) perPoint(size);
const base = perPoint(sizes[0]!);
for (const size of sizes) {
  const ms = size === sizes[0] ? base : perPoint(size);
  console.log(`${String(size).padStart(6)} points: ${(ms * 1000).toFixed(2)} µs per live point, ${(ms / base).toFixed(2)}× the ${sizes[0]}-point cost`);
}
