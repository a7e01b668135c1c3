import type { KLineData } from 'klinecharts';
import { market } from '../store/market.ts';
import { seriesPointsKey } from '../store/series-points.ts';

/** A bar without a point: one shared empty result (KLineChart only reads it). */
const NONE: Record<string, number> = Object.freeze({}) as Record<string, number>;

/**
 * Plotted values by point, per set of plotted keys: shared by every calc made for them (a fresh calc
 * goes to the chart each time a series' points change), held only while the store holds the point.
 */
const plottedByKeys = new Map<string, WeakMap<Record<string, number>, Record<string, number>>>();
function plottedCache(keys: readonly string[]): WeakMap<Record<string, number>, Record<string, number>> {
  const id = keys.join('\u0000');
  let cache = plottedByKeys.get(id);
  if (!cache) plottedByKeys.set(id, (cache = new WeakMap()));
  return cache;
}

/**
 * The indicator's calc: no math, the engine's values looked up by candle time in the store (one
 * computation for every browser). KLineChart runs it over every bar at each update, so it allocates
 * nothing per bar it has seen: a point's plotted values are made once per point (the store never
 * changes a point's object, it replaces it) and a bar without one gets NONE. Making them afresh each
 * time, with the chart's other allocations, had the browser in its garbage collector 47% of the time
 * with 50,000 bars and two series.
 */
export function seriesCalc(label: string, keys: string[], current: () => { symbol: string; interval: string }) {
  const plotted = plottedCache(keys);
  const pick = (v: Record<string, number>) => {
    let out = plotted.get(v);
    if (!out) {
      out = {};
      for (const key of keys) if (key in v) out[key] = v[key]!;
      plotted.set(v, out);
    }
    return out;
  };
  return (dataList: KLineData[]) => {
    const { symbol, interval } = current();
    const points = market.getState().seriesPoints[seriesPointsKey(label, symbol, interval)];
    return dataList.map((k) => {
      const v = points?.get(k.timestamp);
      return v ? pick(v) : NONE;
    });
  };
}
