import type { SeriesPoint } from './define-series.ts';

/** A point as the browser protocol carries it. */
export function pointWire(p: SeriesPoint): Record<string, unknown> {
  return p.values ? { time: p.time, values: p.values, is_closed: p.closed } : { time: p.time, value: p.value ?? null, is_closed: p.closed };
}

export function seriesPointMessage(name: string, symbol: string, interval: string, p: SeriesPoint): string {
  return JSON.stringify({ type: 'series_point', name, symbol, interval, ...pointWire(p) });
}
