import { InvalidNameError } from './errors.ts';

/** Binance's 16 kline intervals, finest first. */
export const BINANCE_INTERVALS = [
  '1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M',
] as const;
export type BinanceInterval = (typeof BINANCE_INTERVALS)[number];

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
type Unit = keyof typeof UNIT_MS | 'M';

export interface Interval {
  readonly name: string;
  readonly count: number;
  readonly unit: Unit;
  /** Length in ms; for months (calendar) this is a nominal 30 days used only for estimates. */
  readonly ms: number;
  readonly native: boolean;
}

const INTERVAL_RE = /^([1-9][0-9]{0,3})([smhdwM])$/;
const cache = new Map<string, Interval>();

/** Parses `<n><unit>` (s, m, h, d, w, M). Native Binance intervals and custom ones alike. */
export function parseInterval(name: string): Interval {
  const hit = cache.get(name);
  if (hit) return hit;
  const m = INTERVAL_RE.exec(name);
  if (!m) {
    throw new InvalidNameError(`invalid interval '${name}': expected <n><unit> with unit s, m, h, d, w or M (e.g. 1m, 4h, 1d)`, {
      info: { field: 'interval', value: name },
    });
  }
  const count = Number(m[1]);
  const unit = m[2] as Unit;
  const ms = unit === 'M' ? count * 30 * UNIT_MS.d : count * UNIT_MS[unit];
  const parsed: Interval = { name, count, unit, ms, native: (BINANCE_INTERVALS as readonly string[]).includes(name) };
  cache.set(name, parsed);
  return parsed;
}

export function isNativeInterval(name: string): name is BinanceInterval {
  return (BINANCE_INTERVALS as readonly string[]).includes(name);
}

/** Nominal length in ms (exact for everything but months). */
export function intervalMs(name: string): number {
  return parseInterval(name).ms;
}

/** Parses a Binance `timeZone` value (`8`, `+08:00`, `-5:30`) into an offset in ms. */
export function parseTimeZone(tz: string | number | undefined): number {
  if (tz === undefined || tz === '' || tz === 0 || tz === '0') return 0;
  const m = /^([+-]?)(\d{1,2})(?::(\d{2}))?$/.exec(String(tz));
  if (!m) throw new TypeError(`timeZone '${tz}': expected H, +HH:MM or -H:MM within [-12:00, +14:00]`);
  const sign = m[1] === '-' ? -1 : 1;
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  const offset = sign * minutes;
  if (offset < -12 * 60 || offset > 14 * 60) throw new TypeError(`timeZone '${tz}': outside [-12:00, +14:00]`);
  return offset * 60_000;
}

const WEEK_ANCHOR = 4 * UNIT_MS.d; // 1970-01-05 was a Monday; epoch day 0 was a Thursday

/**
 * Open time of the bucket containing `t`, aligned as Binance aligns klines: fixed intervals on the
 * epoch grid, weeks on Monday 00:00, months on calendar months. `tzOffsetMs` shifts day and coarser
 * boundaries the way the klines `timeZone` parameter does; returned times stay UTC epoch ms.
 */
export function bucketOpen(t: number, interval: string | Interval, tzOffsetMs = 0): number {
  const iv = typeof interval === 'string' ? parseInterval(interval) : interval;
  const shift = iv.unit === 'd' || iv.unit === 'w' || iv.unit === 'M' ? tzOffsetMs : 0;
  const local = t + shift;
  if (iv.unit === 'M') {
    const d = new Date(local);
    const monthIndex = d.getUTCFullYear() * 12 + d.getUTCMonth();
    const aligned = monthIndex - (((monthIndex % iv.count) + iv.count) % iv.count);
    return Date.UTC(Math.floor(aligned / 12), aligned % 12, 1) - shift;
  }
  if (iv.unit === 'w') {
    return Math.floor((local - WEEK_ANCHOR) / iv.ms) * iv.ms + WEEK_ANCHOR - shift;
  }
  return Math.floor(local / iv.ms) * iv.ms - shift;
}

/** Open time of the bucket after the one opening at `openTime`. */
export function nextOpen(openTime: number, interval: string | Interval, tzOffsetMs = 0): number {
  const iv = typeof interval === 'string' ? parseInterval(interval) : interval;
  if (iv.unit !== 'M') return openTime + iv.ms;
  const shift = tzOffsetMs;
  const d = new Date(openTime + shift);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + iv.count, 1) - shift;
}

/** Binance close time: the last millisecond of the bucket. */
export function closeTime(openTime: number, interval: string | Interval, tzOffsetMs = 0): number {
  return nextOpen(openTime, interval, tzOffsetMs) - 1;
}

/** Number of buckets from `from` (inclusive) to `to` (exclusive); both must be bucket opens. */
export function bucketsBetween(from: number, to: number, interval: string | Interval): number {
  const iv = typeof interval === 'string' ? parseInterval(interval) : interval;
  if (iv.unit !== 'M') return Math.max(0, Math.round((to - from) / iv.ms));
  let n = 0;
  for (let t = from; t < to; t = nextOpen(t, iv)) n++;
  return n;
}
