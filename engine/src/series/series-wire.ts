import type { SeriesPoint } from './define-series.ts';
import { positionFields, type WirePosition } from '../domain/wire.ts';

/** A point as the browser protocol carries it. */
export function pointWire(p: SeriesPoint): Record<string, unknown> {
  return p.values ? { time: p.time, values: p.values, is_closed: p.closed } : { time: p.time, value: p.value ?? null, is_closed: p.closed };
}

const num = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? String(v) : 'null');

/**
 * Serializer of one instance's `series_point` messages. The fixed head (type, name, symbol, interval)
 * is built once; each point appends its numbers (this runs once per point, on the hot path).
 */
export function seriesPointSerializer(name: string, symbol: string, interval: string, position?: () => WirePosition): (p: SeriesPoint) => string {
  const head = `{"type":"series_point","name":${JSON.stringify(name)},"symbol":${JSON.stringify(symbol)},"interval":${JSON.stringify(interval)},"time":`;
  return (p) => {
    let body: string;
    if (p.values) {
      body = ',"values":{';
      let first = true;
      for (const k in p.values) {
        body += `${first ? '' : ','}${JSON.stringify(k)}:${num(p.values[k])}`;
        first = false;
      }
      body += '}';
    } else body = `,"value":${num(p.value)}`;
    // The candle series' position: the point follows the update that made it (issue 13).
    return `${head}${p.time}${body},"is_closed":${p.closed}${positionFields(position?.())}}`;
  };
}

/** `{"type":"series_status",…}`: a series failed (with its error) or runs again. */
export function seriesStatusMessage(name: string, id: { symbol: string; interval: string }, state: 'failed' | 'live', error?: string): string {
  return JSON.stringify({ type: 'series_status', name, symbol: id.symbol, interval: id.interval, state, ...(error !== undefined ? { error } : {}) });
}
