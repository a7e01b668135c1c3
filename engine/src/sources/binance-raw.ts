import type { Bar } from '../domain/bar.ts';
import { MalformedFrameError } from '../domain/errors.ts';
import { bucketOpen } from '../domain/interval.ts';

/** Raw Binance shapes stay here; everything past this file speaks `Bar`. */

export type StreamFrame =
  /** `stream`: the combined envelope's stream name (a bare event has none). */
  | { kind: 'kline'; symbol: string; interval: string; bar: Bar; eventTime: number; stream?: string }
  | { kind: 'shutdown'; eventTime: number }
  | { kind: 'control'; id: unknown; result: unknown }
  | { kind: 'ignored' };

function malformed(reason: string, sample: unknown): never {
  const text = typeof sample === 'string' ? sample : JSON.stringify(sample) ?? String(sample);
  throw new MalformedFrameError(`malformed upstream data: ${reason}`, { info: { reason, sample: text.slice(0, 200) } });
}

function num(v: unknown, field: string, raw: unknown): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isFinite(n)) malformed(`field ${field} is not a number`, raw);
  return n;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One REST klines row (12-element array) to a Bar; final when it closed before `now` or `final` says so. */
export function parseKlineRow(row: unknown, now: number, final = false): Bar {
  if (!Array.isArray(row) || row.length < 7) malformed('kline row is not an array of 12', row);
  const openTime = num(row[0], 'openTime', row);
  const close = num(row[6], 'closeTime', row);
  const bar: Bar = {
    openTime,
    open: num(row[1], 'open', row),
    high: num(row[2], 'high', row),
    low: num(row[3], 'low', row),
    close: num(row[4], 'close', row),
    volume: num(row[5], 'volume', row),
    // Only the newest candle can be forming: its close time lies in the future.
    closed: final || close < now,
  };
  checkBar(bar, row);
  return bar;
}

function checkBar(b: Bar, raw: unknown): void {
  if (!Number.isSafeInteger(b.openTime) || b.openTime < 0) malformed('open time is not a non-negative integer', raw);
  if (b.high < b.low || b.volume < 0) malformed('inconsistent OHLCV', raw);
}

/** A market's price is never 0 or below: such a bar (999 of 1,000 once served from a faulty exchange) is not data. */
function checkPrices(b: Bar, raw: unknown): void {
  if (!(Math.min(b.open, b.low, b.close) > 0)) malformed('a price is not positive', raw);
}

/**
 * How far past the exchange's time (as the engine knows it: a lower bound) a bar may open. Further, it
 * is refused: one bar dated 2100 stood as the newest of its series, every real update after it was
 * dropped as older, and the series froze for good (an attacker-style probe).
 */
export const FUTURE_SLACK_MS = 60_000;

/** Whether a bar opens later than the exchange's time `now` allows. */
export const opensAhead = (bar: Bar, now: number): boolean => bar.openTime > now + FUTURE_SLACK_MS;

/** Whether a bar's open time is not the start of an `interval` bucket (a bar 7 ms off stayed forming for good beside the real one). */
export const misaligned = (bar: Bar, interval: string): boolean => bucketOpen(bar.openTime, interval) !== bar.openTime;

/**
 * Refuses a page of REST rows any of which has a price not above 0, opens after the exchange's time
 * when it was asked (`now`), or off its `interval`'s buckets.
 */
export function checkRows(bars: readonly Bar[], now: number, interval: string): void {
  for (const b of bars) {
    checkPrices(b, b);
    if (opensAhead(b, now)) malformed(`open time ${b.openTime} is after the exchange's time ${now}`, b);
    if (misaligned(b, interval)) malformed(`open time ${b.openTime} is not the start of a ${interval} bar`, b);
  }
}

/** Parses a REST klines body. */
export function parseKlineRows(body: unknown, now: number): Bar[] {
  if (!Array.isArray(body)) malformed('klines body is not an array', body);
  // A row with a successor is final whatever the clocks say: only the last one can still be forming.
  return body.map((r, i) => parseKlineRow(r, now, i < body.length - 1));
}

/** `stream`: the envelope's stream name, for a combined frame. */
function parseKlineEvent(ev: Record<string, unknown>, raw: unknown, stream?: unknown): StreamFrame {
  const k = ev.k;
  if (!isRecord(k)) malformed('kline event without k', raw);
  if (typeof k.s !== 'string' || typeof k.i !== 'string' || typeof k.x !== 'boolean') malformed('kline without s/i/x', raw);
  const bar: Bar = {
    openTime: num(k.t, 't', raw),
    open: num(k.o, 'o', raw),
    high: num(k.h, 'h', raw),
    low: num(k.l, 'l', raw),
    close: num(k.c, 'c', raw),
    volume: num(k.v, 'v', raw),
    closed: k.x,
  };
  checkBar(bar, raw);
  checkPrices(bar, raw);
  const symbol = k.s.toUpperCase();
  // The envelope names the stream the socket asked for; an event for another symbol or interval in it
  // would go into the wrong series (an attacker-style probe moved a chart's close from 1000 to 2000).
  if (stream !== undefined && (typeof stream !== 'string' || !namesKline(stream, symbol, k.i))) malformed("stream name does not match its kline's symbol and interval", raw);
  return { kind: 'kline', symbol, interval: k.i, bar, eventTime: num(ev.E, 'E', raw), stream: stream as string | undefined };
}

/** Parses one text frame of a combined (`{stream,data}`) or raw stream. Throws MalformedFrameError. */
export function parseStreamFrame(text: string): StreamFrame {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    malformed('not JSON', text);
  }
  if (!isRecord(msg)) malformed('frame is not an object', text);
  if ('result' in msg && 'id' in msg) return { kind: 'control', id: msg.id, result: msg.result };
  const wrapped = 'stream' in msg && 'data' in msg;
  const ev = wrapped ? msg.data : msg;
  if (!isRecord(ev)) malformed('data is not an object', text);
  if (ev.e === 'kline') return parseKlineEvent(ev, text, wrapped ? msg.stream : undefined);
  if (ev.e === 'serverShutdown') return { kind: 'shutdown', eventTime: typeof ev.E === 'number' ? ev.E : 0 };
  if ('error' in msg || 'code' in msg) malformed('error frame from upstream', text);
  return { kind: 'ignored' };
}

/** Whether `stream` is the kline stream of this symbol and interval (`btcusdt@kline_1m`, with or without a time zone suffix). */
function namesKline(stream: string, symbol: string, interval: string): boolean {
  const name = `${symbol.toLowerCase()}@kline_${interval}`;
  return stream.startsWith(name) && (stream.length === name.length || stream[name.length] === '@');
}

/** Binance stream name of a series: lower-case symbol. */
export function klineStreamName(symbol: string, interval: string): string {
  return `${symbol.toLowerCase()}@kline_${interval}`;
}
