import { describe, expect, it } from 'vitest';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { initialMarketState, type MarketState } from '../../../client/src/store/market.ts';
import { MAX_POINTS, mergeSeriesPoints, seriesPointsKey, setSeriesPoints } from '../../../client/src/store/series-points.ts';

const p = (t: number, value = t) => ({ time: t, values: { value } });
const times = (s: StoreApi<MarketState>) => [...(s.getState().seriesPoints[seriesPointsKey('rsi', 'BTCUSDT', '1m')] ?? new Map()).entries()].sort((a, b) => a[0] - b[0]);

describe('derived-series points in the store', () => {
  it("a snapshot's points replace the kept ones from its first time on; older ones (scrolled-back history) stay", () => {
    const s = createStore<MarketState>(initialMarketState);
    mergeSeriesPoints('rsi', 'BTCUSDT', '1m', [1, 2, 3, 4, 5, 6].map((t) => p(t)), s);
    // From 4 on: 5 is gone (not in the snapshot), 4 and 6 have the snapshot's values, 7 is new.
    setSeriesPoints('rsi', 'BTCUSDT', '1m', [p(4, 40), p(6, 60), p(7, 70)], s);
    expect(times(s)).toEqual([
      [1, { value: 1 }],
      [2, { value: 2 }],
      [3, { value: 3 }],
      [4, { value: 40 }],
      [6, { value: 60 }],
      [7, { value: 70 }],
    ]);
    // A snapshot without points for the series keeps what was there.
    setSeriesPoints('rsi', 'BTCUSDT', '1m', [], s);
    expect(times(s)).toHaveLength(6);
  });

  it('keeps at most MAX_POINTS, the oldest going first', () => {
    const s = createStore<MarketState>(initialMarketState);
    mergeSeriesPoints('rsi', 'BTCUSDT', '1m', Array.from({ length: MAX_POINTS }, (_, i) => p(i)), s);
    setSeriesPoints('rsi', 'BTCUSDT', '1m', [p(MAX_POINTS), p(MAX_POINTS + 1)], s);
    const kept = times(s);
    expect(kept).toHaveLength(MAX_POINTS);
    expect(kept[0]![0]).toBe(2);
    expect(kept.at(-1)![0]).toBe(MAX_POINTS + 1);
  });
});
