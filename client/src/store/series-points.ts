import type { StoreApi } from 'zustand/vanilla';
import { market, type MarketState } from './market.ts';

/** Values of one derived-series point: `{value}` for single-valued series, its keys otherwise. */
export type PointValues = Record<string, number>;

export const seriesPointsKey = (label: string, symbol: string, interval: string) => `${label}|${symbol}:${interval}`;

const MAX_POINTS = 5000;

export function toValues(p: { value?: unknown; values?: unknown }): PointValues | undefined {
  if (typeof p.value === 'number') return { value: p.value };
  if (p.values && typeof p.values === 'object') {
    const out: PointValues = {};
    for (const [k, v] of Object.entries(p.values as Record<string, unknown>)) if (typeof v === 'number') out[k] = v;
    return out;
  }
  return undefined;
}

/** The points a `historical` message carries for a series: they replace what was kept. */
export function setSeriesPoints(label: string, symbol: string, interval: string, points: Array<{ time: number; values: PointValues }>, store: StoreApi<MarketState> = market): void {
  const map = new Map<number, PointValues>();
  for (const p of points.slice(-MAX_POINTS)) map.set(p.time, p.values);
  store.setState((s) => ({ seriesPoints: { ...s.seriesPoints, [seriesPointsKey(label, symbol, interval)]: map } }));
}

/** A live `series_point`: upsert by time. */
export function mergeSeriesPoint(label: string, symbol: string, interval: string, time: number, values: PointValues, store: StoreApi<MarketState> = market): void {
  const key = seriesPointsKey(label, symbol, interval);
  const map = new Map(store.getState().seriesPoints[key] ?? []);
  map.set(time, values);
  if (map.size > MAX_POINTS) map.delete(map.keys().next().value!);
  store.setState((s) => ({ seriesPoints: { ...s.seriesPoints, [key]: map } }));
}
