import type { Bar } from '../domain/bar.ts';
import { type Interval, parseInterval, parseTimeZone } from '../domain/interval.ts';

/** Throws a `TypeError` naming `field` unless `value` is an integer ≥ `min`. */
export function requireInteger(operator: string, field: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TypeError(`${operator}: ${field} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Throws a `TypeError` naming `field` unless `value` is a finite number > 0. */
export function requirePositive(operator: string, field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${operator}: ${field} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}

/** Which number of a bar a single-input indicator reads. */
export type PriceSource = 'open' | 'high' | 'low' | 'close' | 'volume' | 'hl2' | 'hlc3' | 'ohlc4';

const SOURCES: Record<PriceSource, (b: Bar) => number> = {
  open: (b) => b.open,
  high: (b) => b.high,
  low: (b) => b.low,
  close: (b) => b.close,
  volume: (b) => b.volume,
  hl2: (b) => (b.high + b.low) / 2,
  hlc3: (b) => (b.high + b.low + b.close) / 3,
  ohlc4: (b) => (b.open + b.high + b.low + b.close) / 4,
};

/** The reader for `source`; throws a `TypeError` naming the field when it is unknown. */
export function priceReader(operator: string, source: unknown): (b: Bar) => number {
  const read = typeof source === 'string' ? SOURCES[source as PriceSource] : undefined;
  if (!read) throw new TypeError(`${operator}: source must be one of ${Object.keys(SOURCES).join(', ')}, got ${String(source)}`);
  return read;
}

/** Parses an interval name; throws a `TypeError` naming `field` when it is not `<n><unit>`. */
export function requireInterval(operator: string, field: string, name: unknown): Interval {
  try {
    if (typeof name !== 'string') throw new Error('not a string');
    return parseInterval(name);
  } catch (cause) {
    throw new TypeError(`${operator}: ${field} must be an interval like 1m, 4h, 1d, 1w or 1M, got ${String(name)}`, { cause });
  }
}

/** Parses a Binance `timeZone` value; throws a `TypeError` naming the field. */
export function requireTimeZone(operator: string, timeZone: unknown): number {
  try {
    return parseTimeZone(timeZone as string | number | undefined);
  } catch (cause) {
    throw new TypeError(`${operator}: timeZone must look like +08:00, -5:30 or 8, got ${String(timeZone)}`, { cause });
  }
}
