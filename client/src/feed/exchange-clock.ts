/**
 * The exchange's clock as seen from the feed. A browser's clock can be off, and an exchange (or the
 * simulator) can run on another clock altogether; what the feed proves is that a bar with open time
 * T exists (exchange now >= T) and, while an update of it still says forming, that it has not closed
 * (exchange now < T + interval). The skew is kept inside those bounds, moving as little as possible.
 */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Open time of the bar after the one opening at `time` (UTC; months are calendar months). */
export function nextOpen(time: number, interval: string): number {
  const m = /^(\d+)([smhdwM])$/.exec(interval);
  if (!m) return time + 60_000;
  const n = Number(m[1]);
  if (m[2] === 'M') {
    const d = new Date(time);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1);
  }
  return time + n * UNIT_MS[m[2]!]!;
}

/**
 * The skew (exchange time minus local time) after seeing a bar at local time `localNow`. `fresh`: the
 * update was just pushed (a live update, not a snapshot that may hold a bar from before an outage),
 * so a forming bar also bounds the skew from above.
 */
export function observeSkew(skew: number, bar: { time: number; is_closed: boolean }, interval: string, localNow: number, fresh: boolean): number {
  const lower = bar.time - localNow;
  const upper = fresh && !bar.is_closed ? nextOpen(bar.time, interval) - localNow : Infinity;
  if (lower > upper) return lower;
  return Math.min(Math.max(skew, lower), upper);
}

/** `00:37`, `12:05:09`, `3d 04h`: time left until a bar closes (never negative). */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${pad(h)}:${pad(m)}:${pad(s)}`;
  return `${pad(m)}:${pad(s)}`;
}

/** The countdown text of the bar opening at `time`, at exchange time `exchangeNow`. */
export function countdownText(time: number, interval: string, exchangeNow: number): string {
  return formatCountdown(nextOpen(time, interval) - exchangeNow);
}
