import type { Bar } from './bar.ts';

/** A candle as the browser protocol carries it (the original system's shape). */
export interface WireCandle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  is_closed: boolean;
}

export function toWire(b: Bar): WireCandle {
  return { time: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, is_closed: b.closed };
}

export function historicalMessage(symbol: string, interval: string, bars: readonly Bar[]): string {
  return JSON.stringify({ type: 'historical', symbol, interval, data: bars.map(toWire) });
}

export function liveCandleMessage(symbol: string, interval: string, b: Bar): string {
  // Hand-built: this string is made once per update and is the hot path of the fan-out.
  return `{"type":"live_candle","symbol":"${symbol}","interval":"${interval}","time":${b.openTime},"open":${b.open},"high":${b.high},"low":${b.low},"close":${b.close},"volume":${b.volume},"is_closed":${b.closed}}`;
}

export function errorMessage(message: string): string {
  return JSON.stringify({ type: 'error', message });
}
