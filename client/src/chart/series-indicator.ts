import { type KLineData, registerIndicator } from 'klinecharts';
import { market } from '../store/market.ts';
import { seriesPointsKey } from '../store/series-points.ts';

/** KLineChart indicator name of an engine-computed series. */
export const seriesIndicatorName = (label: string) => `engine:${label}`;

/**
 * Registers a KLineChart indicator that draws an engine-computed series: its `calc` does no math, it
 * looks the engine's values up by candle time in the store (so every browser shows one computation).
 */
export function registerSeriesIndicator(label: string, keys: string[], current: () => { symbol: string; interval: string }): void {
  registerIndicator<Record<string, number>>({
    name: seriesIndicatorName(label),
    shortName: label,
    precision: 4,
    figures: keys.map((key) => ({ key, title: `${key}: `, type: 'line' })),
    calc: (dataList: KLineData[]) => {
      const { symbol, interval } = current();
      const points = market.getState().seriesPoints[seriesPointsKey(label, symbol, interval)];
      return dataList.map((k) => {
        const v = points?.get(k.timestamp);
        if (!v) return {};
        const out: Record<string, number> = {};
        for (const key of keys) if (key in v) out[key] = v[key]!;
        return out;
      });
    },
  });
}
