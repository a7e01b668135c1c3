import { InvalidNameError } from './errors.ts';
import { parseInterval } from './interval.ts';
import { echo } from './echo.ts';

/**
 * Binance's symbol grammar (`^[A-Z0-9-_.]{1,20}$`, its -1100 message), from 2 characters and starting
 * with a letter or digit, so that no symbol is a path's `.` or `..`; anything else never becomes a Redis
 * key, a topic or a path segment.
 */
const SYMBOL_RE = /^[A-Z0-9][A-Z0-9._-]{1,19}$/;

/** One series: a (symbol, interval) pair. `key` is `SYMBOL:interval`, the form used in maps and logs. */
export interface SeriesId {
  readonly symbol: string;
  readonly interval: string;
  readonly key: string;
}

export function isValidSymbol(symbol: string): boolean {
  return SYMBOL_RE.test(symbol);
}

/** Builds a validated series id; throws InvalidNameError for a malformed symbol or interval. */
export function seriesId(symbol: string, interval: string): SeriesId {
  if (!isValidSymbol(symbol)) {
    throw new InvalidNameError(`invalid symbol '${echo(symbol, 40)}': expected 2-20 upper-case letters, digits, '-', '_' or '.', the first a letter or digit`, {
      info: { field: 'symbol', value: symbol },
    });
  }
  parseInterval(interval); // throws on a malformed interval
  return { symbol, interval, key: `${symbol}:${interval}` };
}

/** Redis key of a series, as in the original system. */
export function candlesKey(id: SeriesId, prefix = ''): string {
  return `${prefix}candles:${id.symbol}:${id.interval}`;
}

/** uWebSockets.js pub/sub topic of a series. */
export function klineTopic(id: SeriesId): string {
  return `kline/${id.symbol}/${id.interval}`;
}
