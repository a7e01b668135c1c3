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

/** A series' position as the wire carries it (issue 13): the epoch and the offset of the update. */
export interface WirePosition {
  readonly epoch: string;
  readonly offset: number;
}

export function historicalMessage(symbol: string, interval: string, bars: readonly Bar[], pos?: WirePosition): string {
  return JSON.stringify(pos ? { type: 'historical', symbol, interval, epoch: pos.epoch, offset: pos.offset, data: bars.map(toWire) } : { type: 'historical', symbol, interval, data: bars.map(toWire) });
}

/** A resume's answer: the latest version of every bar touched after the client's offset. */
export function recoveredMessage(symbol: string, interval: string, bars: readonly Bar[], pos: WirePosition): string {
  return JSON.stringify({ type: 'recovered', symbol, interval, epoch: pos.epoch, offset: pos.offset, data: bars.map(toWire) });
}

/**
 * A string as a JSON string literal. Epochs are URL-safe ids, so the quotes alone almost always do;
 * the check is a few compares per character where JSON.stringify cost more than the rest of a
 * live_candle message (it runs once per update). Anything else is escaped by JSON.stringify.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** `,"epoch":"…","offset":N`, or nothing. */
export function positionFields(pos: WirePosition | undefined): string {
  return pos ? `,"epoch":${jsonString(pos.epoch)},"offset":${pos.offset}` : '';
}

/**
 * `at`: when the node sending it to browsers made the message (its clock, ms). A browser learns from
 * it how long updates wait on their way, in its own main thread above all (one that cannot keep up
 * fell minutes behind while its chart looked live: client/src/feed/feed-lag.ts).
 */
export function liveCandleMessage(symbol: string, interval: string, b: Bar, pos?: WirePosition, at?: number): string {
  // Hand-built: this string is made once per update and is the hot path of the fan-out.
  return `{"type":"live_candle","symbol":"${symbol}","interval":"${interval}","time":${b.openTime},"open":${b.open},"high":${b.high},"low":${b.low},"close":${b.close},"volume":${b.volume},"is_closed":${b.closed}${positionFields(pos)}${at === undefined ? '' : `,"at":${at}`}}`;
}

/**
 * `code` names a failure clients act on (`symbol_not_trading`, `series_capacity`); `series`, with
 * `bad_series`, the derived series the request named wrongly.
 */
export function errorMessage(message: string, code?: string, retryAfterSec?: number, series?: string): string {
  return JSON.stringify(
    code ? { type: 'error', code, message, ...(retryAfterSec !== undefined && { retryAfterSec }), ...(series !== undefined && { series }) } : { type: 'error', message },
  );
}

/** First message for a series being bootstrapped on demand; `historical` follows once it is live. */
export function loadingMessage(symbol: string, interval: string): string {
  return JSON.stringify({ type: 'loading', symbol, interval });
}
