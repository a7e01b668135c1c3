import { describe, expect, it } from 'vitest';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { initialMarketState, type MarketState } from '../../../client/src/store/market.ts';
import { MAX_POINTS, mergeSeriesPoint, mergeSeriesPoints, POINTS_SLACK, seriesPointsKey, setSeriesPoints } from '../../../client/src/store/series-points.ts';

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

  it('keeps MAX_POINTS, the oldest going first once POINTS_SLACK more came (one sort of the times per that many points)', () => {
    const s = createStore<MarketState>(initialMarketState);
    mergeSeriesPoints('rsi', 'BTCUSDT', '1m', Array.from({ length: MAX_POINTS }, (_, i) => p(i)), s);
    setSeriesPoints('rsi', 'BTCUSDT', '1m', [p(MAX_POINTS), p(MAX_POINTS + 1)], s);
    expect(times(s)).toHaveLength(MAX_POINTS + 2);
    for (let t = MAX_POINTS + 2; t < MAX_POINTS + POINTS_SLACK; t++) mergeSeriesPoint('rsi', 'BTCUSDT', '1m', t, { value: t }, s);
    expect(times(s)).toHaveLength(MAX_POINTS + POINTS_SLACK);
    mergeSeriesPoint('rsi', 'BTCUSDT', '1m', MAX_POINTS + POINTS_SLACK, { value: 0 }, s);
    const kept = times(s);
    expect(kept).toHaveLength(MAX_POINTS);
    expect(kept[0]![0]).toBe(POINTS_SLACK + 1);
    expect(kept.at(-1)![0]).toBe(MAX_POINTS + POINTS_SLACK);
  });

  it('a live point changes the kept map in place (reproduced: each one copied it) and gives the series a version no other series has', () => {
    const s = createStore<MarketState>(initialMarketState);
    const key = seriesPointsKey('rsi', 'BTCUSDT', '1m');
    const other = seriesPointsKey('rsi', 'ETHUSDT', '1m');
    setSeriesPoints('rsi', 'BTCUSDT', '1m', [p(1), p(2)], s);
    mergeSeriesPoints('rsi', 'ETHUSDT', '1m', [p(1)], s);
    const map = s.getState().seriesPoints[key];
    const versions = new Set([s.getState().seriesPointsVersion[key], s.getState().seriesPointsVersion[other]]);
    mergeSeriesPoint('rsi', 'BTCUSDT', '1m', 3, { value: 3 }, s);
    expect(s.getState().seriesPoints[key]).toBe(map);
    expect(map!.get(3)).toEqual({ value: 3 });
    const v = s.getState().seriesPointsVersion[key]!;
    expect(versions.has(v)).toBe(false);
    expect(versions.size).toBe(2);
  });
});
