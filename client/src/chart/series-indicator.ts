import { type KLineData, registerIndicator } from 'klinecharts';
import { market } from '../store/market.ts';
import { seriesPointsKey } from '../store/series-points.ts';

/** KLineChart indicator name of an engine-computed series. */
export const seriesIndicatorName = (label: string) => `engine:${label}`;

/** The indicator's calc: no math, the engine's values looked up by candle time in the store (one computation for every browser). */
export function seriesCalc(label: string, keys: string[], current: () => { symbol: string; interval: string }) {
  return (dataList: KLineData[]) => {
    const { symbol, interval } = current();
    const points = market.getState().seriesPoints[seriesPointsKey(label, symbol, interval)];
    return dataList.map((k) => {
      const v = points?.get(k.timestamp);
      if (!v) return {};
      const out: Record<string, number> = {};
      for (const key of keys) if (key in v) out[key] = v[key]!;
      return out;
    });
  };
}

/** Registers a KLineChart indicator that draws an engine-computed series (see `seriesCalc`). */
export function registerSeriesIndicator(label: string, keys: string[], current: () => { symbol: string; interval: string }): void {
  registerIndicator<Record<string, number>>({
    name: seriesIndicatorName(label),
    shortName: label,
    precision: 4,
    figures: keys.map((key) => ({ key, title: `${key}: `, type: 'line' })),
    calc: seriesCalc(label, keys, current),
  });
}
