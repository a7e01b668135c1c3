import type { StoreApi } from 'zustand/vanilla';
import type { SeriesState } from '../feed/wire.ts';
import { MAX_CHART_BARS, TRIM_MARGIN } from '../chart/data-loader.ts';
import { market, type MarketState } from './market.ts';

/** Values of one derived-series point: `{value}` for single-valued series, its keys otherwise. */
export type PointValues = Record<string, number>;

export const seriesPointsKey = (label: string, symbol: string, interval: string) => `${label}|${symbol}:${interval}`;

/**
 * Points kept per series: the live window plus pages scrolled back into (older pages add to it), as
 * many as the chart holds bars at most (it trims its oldest only past MAX_CHART_BARS + TRIM_MARGIN:
 * with fewer points, those oldest bars showed no value).
 */
export const MAX_POINTS = MAX_CHART_BARS + TRIM_MARGIN;

/** Points a series may hold beyond MAX_POINTS before its oldest go: one sort of its times per this many new points, not one per point. */
export const POINTS_SLACK = 1000;

/** The next version of a series' points (see MarketState.seriesPointsVersion). */
let lastVersion = 0;
const bumped = (versions: Record<string, number>, key: string) => ({ ...versions, [key]: ++lastVersion });

export function toValues(p: { value?: unknown; values?: unknown }): PointValues | undefined {
  // A finite number: 1e999 parses as Infinity, which the chart skips without a word.
  if (typeof p.value === 'number') return Number.isFinite(p.value) ? { value: p.value } : {};
  // No number at this time (the engine says `null`: a VWAP over no volume): it replaces the one drawn.
  // Refused, the old number stayed on the chart (a review).
  if (p.value === null) return {};
  if (p.values && typeof p.values === 'object') {
    const out: PointValues = {};
    for (const [k, v] of Object.entries(p.values as Record<string, unknown>)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    return out;
  }
  return undefined;
}

/** Over the cap and its slack: the oldest times go first, down to the cap (the live end is what every view shows). */
function capOldest(map: Map<number, PointValues>): void {
  if (map.size <= MAX_POINTS + POINTS_SLACK) return;
  const times = [...map.keys()].sort((a, b) => a - b);
  for (const t of times.slice(0, map.size - MAX_POINTS)) map.delete(t);
}

/**
 * The points a `historical` message carries for a series: from their first time on they replace what
 * was kept. Older points stay: the chart keeps its scrolled-back bars across a reload of the same
 * series, and without their points the series went blank over them, fetched again page by page (a
 * chart soak: rsi on 8,271 of 13,569 bars after a reconnect that could not resume).
 */
export function setSeriesPoints(label: string, symbol: string, interval: string, points: Array<{ time: number; values: PointValues }>, store: StoreApi<MarketState> = market): void {
  const key = seriesPointsKey(label, symbol, interval);
  const from = points.reduce((m, p) => Math.min(m, p.time), Number.POSITIVE_INFINITY);
  const map = new Map<number, PointValues>();
  for (const [t, v] of store.getState().seriesPoints[key] ?? []) if (t < from) map.set(t, v);
  for (const p of points) map.set(p.time, p.values);
  capOldest(map);
  store.setState((s) => ({ seriesPoints: { ...s.seriesPoints, [key]: map }, seriesPointsVersion: bumped(s.seriesPointsVersion, key) }));
}

/** A live `series_point`: upsert by time. */
export function mergeSeriesPoint(label: string, symbol: string, interval: string, time: number, values: PointValues, store: StoreApi<MarketState> = market): void {
  mergeSeriesPoints(label, symbol, interval, [{ time, values }], store);
}

/** Many points at once (an older page from `GET /series/…?endTime=`, or what a resume missed): upsert by time. */
export function mergeSeriesPoints(label: string, symbol: string, interval: string, points: ReadonlyArray<{ time: number; values: PointValues }>, store: StoreApi<MarketState> = market): void {
  if (!points.length) return;
  const key = seriesPointsKey(label, symbol, interval);
  const kept = store.getState().seriesPoints[key];
  const map = kept ?? new Map<number, PointValues>();
  for (const p of points) map.set(p.time, p.values);
  capOldest(map);
  store.setState((s) => ({ ...(kept ? {} : { seriesPoints: { ...s.seriesPoints, [key]: map } }), seriesPointsVersion: bumped(s.seriesPointsVersion, key) }));
}

/** `series_status` (or `historical`'s `seriesStatus`): a failed series says so on the chart. */
export function setSeriesStatus(label: string, symbol: string, interval: string, status: SeriesState | undefined, store: StoreApi<MarketState> = market): void {
  const key = seriesPointsKey(label, symbol, interval);
  const cur = store.getState().seriesStatus[key];
  if (cur?.state === status?.state && (cur as { error?: string } | undefined)?.error === (status as { error?: string } | undefined)?.error) return;
  store.setState((s) => {
    const seriesStatus = { ...s.seriesStatus };
    if (status) seriesStatus[key] = status;
    else delete seriesStatus[key];
    return { seriesStatus };
  });
}
