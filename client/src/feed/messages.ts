import type { Candle } from '../store/candle.ts';
import { type PointValues, toValues } from '../store/series-points.ts';

export interface SeriesPointWire {
  time: number;
  values: PointValues;
}

/** Messages from the engine's /ws/:symbol, checked field by field (the wire is untrusted input). */
export type EngineMessage =
  | { type: 'historical'; symbol: string; interval: string; data: Candle[]; series: Record<string, SeriesPointWire[]> }
  | { type: 'series_point'; name: string; symbol: string; interval: string; point: SeriesPointWire }
  | { type: 'live_candle'; symbol: string; interval: string; candle: Candle }
  | { type: 'status'; upstream: 'live' | 'reconnecting' | 'stale'; source: string }
  | { type: 'error'; message: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function toCandle(v: unknown): Candle | undefined {
  if (!isObj(v)) return undefined;
  const { time, open, high, low, close, volume, is_closed } = v;
  if (!isNum(time) || !isNum(open) || !isNum(high) || !isNum(low) || !isNum(close) || !isNum(volume) || typeof is_closed !== 'boolean') return undefined;
  return { time, open, high, low, close, volume, is_closed };
}

function toPoint(p: Record<string, unknown>): SeriesPointWire | undefined {
  const values = toValues(p);
  return isNum(p.time) && values ? { time: p.time, values } : undefined;
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
      if (typeof msg.symbol !== 'string' || typeof msg.interval !== 'string' || !Array.isArray(msg.data)) return undefined;
      const data = msg.data.map(toCandle);
      if (data.some((c) => c === undefined)) return undefined;
      const series: Record<string, SeriesPointWire[]> = {};
      if (isObj(msg.series)) {
        for (const [name, points] of Object.entries(msg.series)) {
          if (!Array.isArray(points)) continue;
          series[name] = points.flatMap((p) => {
            const point = isObj(p) ? toPoint(p) : undefined;
            return point ? [point] : [];
          });
        }
      }
      return { type: 'historical', symbol: msg.symbol, interval: msg.interval, data: data as Candle[], series };
    }
    case 'series_point': {
      const point = toPoint(msg);
      if (!point || typeof msg.name !== 'string' || typeof msg.symbol !== 'string' || typeof msg.interval !== 'string') return undefined;
      return { type: 'series_point', name: msg.name, symbol: msg.symbol, interval: msg.interval, point };
    }
    case 'live_candle': {
      const candle = toCandle(msg);
      if (!candle || typeof msg.symbol !== 'string' || typeof msg.interval !== 'string') return undefined;
      return { type: 'live_candle', symbol: msg.symbol, interval: msg.interval, candle };
    }
    case 'status':
      if (msg.upstream !== 'live' && msg.upstream !== 'reconnecting' && msg.upstream !== 'stale') return undefined;
      return { type: 'status', upstream: msg.upstream, source: typeof msg.source === 'string' ? msg.source : '' };
    case 'error':
      return { type: 'error', message: typeof msg.message === 'string' ? msg.message : 'unknown error' };
    default:
      return undefined;
  }
}
