import type { Candle } from '../store/candle.ts';
import { type PointValues, toValues } from '../store/series-points.ts';
import type { SeriesState, StreamPosition } from './wire.ts';

export interface SeriesPointWire {
  time: number;
  values: PointValues;
}

/** Messages from the engine's /ws/:symbol, checked field by field (the wire is untrusted input). */
export type EngineMessage =
  | {
      type: 'historical';
      symbol: string;
      interval: string;
      data: Candle[];
      series: Record<string, SeriesPointWire[]>;
      /**
       * Failed derived series, by label; undefined on a `historical` that carries candles only (an
       * edge's reload mid-stream: it says nothing about the series, which keep their state).
       */
      seriesStatus?: Record<string, SeriesState>;
      position?: StreamPosition;
      /** false: a resume was asked for and could not be served (this snapshot replaces the chart). */
      recovered?: boolean;
    }
  | {
      type: 'recovered';
      symbol: string;
      interval: string;
      data: Candle[];
      position: StreamPosition;
      series: Record<string, SeriesPointWire[]>;
      /** Failed derived series, by label, as `historical`'s (one not listed runs). */
      seriesStatus: Record<string, SeriesState>;
    }
  | { type: 'loading'; symbol: string; interval: string }
  | { type: 'series_point'; name: string; symbol: string; interval: string; point: SeriesPointWire }
  | { type: 'series_status'; name: string; symbol: string; interval: string; status: SeriesState }
  /** `at`: when the engine sent it (its clock, ms; see feed-lag.ts). */
  | { type: 'live_candle'; symbol: string; interval: string; candle: Candle; position?: StreamPosition; at?: number }
  | { type: 'status'; upstream: 'live' | 'reconnecting' | 'stale' | 'ended'; source: string }
  | { type: 'error'; message: string; code?: string; retryAfterSec?: number; series?: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
/**
 * A time a Date can hold (ms, 0 … 8.64e15): one past it (a microsecond stamp read as ms, 9e15) stuck
 * as the newest bar, and once an axis tick landed on it the chart's layout threw, silently, for good.
 */
export const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 8.64e15;

export function toCandle(v: unknown): Candle | undefined {
  if (!isObj(v)) return undefined;
  const { time, open, high, low, close, volume, is_closed } = v;
  if (!isTime(time) || !isNum(open) || !isNum(high) || !isNum(low) || !isNum(close) || !isNum(volume) || typeof is_closed !== 'boolean') return undefined;
  return { time, open, high, low, close, volume, is_closed };
}

function toPoint(p: Record<string, unknown>): SeriesPointWire | undefined {
  const values = toValues(p);
  return isTime(p.time) && values ? { time: p.time, values } : undefined;
}

/** `epoch` (string) and `offset` (non-negative integer) together, or nothing. */
function toPosition(m: Record<string, unknown>): StreamPosition | undefined {
  return isStr(m.epoch) && m.epoch.length > 0 && m.epoch.length <= 64 && Number.isSafeInteger(m.offset) && (m.offset as number) >= 0 ? { epoch: m.epoch, offset: m.offset as number } : undefined;
}

function toSeriesState(m: Record<string, unknown>): SeriesState | undefined {
  if (m.state === 'live') return { state: 'live' };
  if (m.state === 'failed') {
    const error = isStr(m.error) ? m.error.slice(0, 500) : 'failed';
    const retry = m.retryAfterSec;
    // At least a second: 0.001 made a crowd of snapshot reconnects before the doubling caught up (a review).
    return typeof retry === 'number' && Number.isFinite(retry) && retry > 0 ? { state: 'failed', error, retryAfterSec: Math.min(Math.max(retry, 1), 3600) } : { state: 'failed', error };
  }
  return undefined;
}

/** `historical`'s and `recovered`'s `seriesStatus`: the entries that are a series state, by label. */
function toSeriesStatus(v: unknown): Record<string, SeriesState> {
  const out: Record<string, SeriesState> = {};
  if (!isObj(v)) return out;
  for (const [name, s] of Object.entries(v)) {
    const st = isObj(s) ? toSeriesState(s) : undefined;
    if (st) out[name] = st;
  }
  return out;
}

/** Every element a candle, or undefined (one bad candle spoils the message: a hole is worse than a retry). */
function toCandles(v: unknown): Candle[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const data = v.map(toCandle);
  return data.some((c) => c === undefined) ? undefined : (data as Candle[]);
}

/** Derived-series points by label, as `historical` and `recovered` carry them (bad points dropped). */
function toSeriesPoints(v: unknown): Record<string, SeriesPointWire[]> {
  const series: Record<string, SeriesPointWire[]> = {};
  if (!isObj(v)) return series;
  for (const [name, points] of Object.entries(v)) {
    if (!Array.isArray(points)) continue;
    series[name] = points.flatMap((p) => {
      const point = isObj(p) ? toPoint(p) : undefined;
      return point ? [point] : [];
    });
  }
  return series;
}

/** A refusal's wait: a `retryAfterSec` field, else the engine's "retry in N s" wording (its error message carries no field); bounded to an hour. */
function toRetryAfter(m: Record<string, unknown>, message: string): number | undefined {
  const sec = isNum(m.retryAfterSec) ? m.retryAfterSec : Number(/retry in (\d+) s\b/.exec(message)?.[1]);
  return sec > 0 && sec <= 3600 ? Math.max(sec, 1) : undefined;
}

/** Parses one text frame; undefined for anything malformed or unknown (ignored, never thrown). */
export function parseEngineMessage(text: string): EngineMessage | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(msg)) return undefined;
  switch (msg.type) {
    case 'historical': {
      const data = toCandles(msg.data);
      if (!isStr(msg.symbol) || !isStr(msg.interval) || !data) return undefined;
      const series = toSeriesPoints(msg.series);
      const out: EngineMessage = { type: 'historical', symbol: msg.symbol, interval: msg.interval, data, series };
      if (isObj(msg.series) || isObj(msg.seriesStatus)) out.seriesStatus = toSeriesStatus(msg.seriesStatus);
      const position = toPosition(msg);
      if (position) out.position = position;
      if (typeof msg.recovered === 'boolean') out.recovered = msg.recovered;
      return out;
    }
    case 'recovered': {
      const data = toCandles(msg.data);
      const position = toPosition(msg);
      if (!isStr(msg.symbol) || !isStr(msg.interval) || !data || !position) return undefined;
      return { type: 'recovered', symbol: msg.symbol, interval: msg.interval, data, position, series: toSeriesPoints(msg.series), seriesStatus: toSeriesStatus(msg.seriesStatus) };
    }
    case 'loading':
      if (!isStr(msg.symbol) || !isStr(msg.interval)) return undefined;
      return { type: 'loading', symbol: msg.symbol, interval: msg.interval };
    case 'series_point': {
      const point = toPoint(msg);
      if (!point || !isStr(msg.name) || !isStr(msg.symbol) || !isStr(msg.interval)) return undefined;
      return { type: 'series_point', name: msg.name, symbol: msg.symbol, interval: msg.interval, point };
    }
    case 'series_status': {
      const status = toSeriesState(msg);
      if (!status || !isStr(msg.name) || !isStr(msg.symbol) || !isStr(msg.interval)) return undefined;
      return { type: 'series_status', name: msg.name, symbol: msg.symbol, interval: msg.interval, status };
    }
    case 'live_candle': {
      const candle = toCandle(msg);
      if (!candle || !isStr(msg.symbol) || !isStr(msg.interval)) return undefined;
      const out: EngineMessage = { type: 'live_candle', symbol: msg.symbol, interval: msg.interval, candle };
      const position = toPosition(msg);
      if (position) out.position = position;
      if (isNum(msg.at)) out.at = msg.at;
      return out;
    }
    case 'status':
      if (msg.upstream !== 'live' && msg.upstream !== 'reconnecting' && msg.upstream !== 'stale' && msg.upstream !== 'ended') return undefined;
      return { type: 'status', upstream: msg.upstream, source: isStr(msg.source) ? msg.source : '' };
    case 'error': {
      // Bounded as a series' error is: it is shown in the banner.
      const out: EngineMessage = { type: 'error', message: isStr(msg.message) ? msg.message.slice(0, 500) : 'unknown error' };
      if (isStr(msg.code)) out.code = msg.code;
      // The derived series a `bad_series` refusal blames: a name, bounded as the engine echoes it.
      if (isStr(msg.series) && msg.series.length <= 64) out.series = msg.series;
      const retryAfterSec = toRetryAfter(msg, out.message);
      if (retryAfterSec !== undefined) out.retryAfterSec = retryAfterSec;
      return out;
    }
    default:
      return undefined;
  }
}
