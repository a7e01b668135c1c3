import { nextOpen } from './exchange-clock.ts';

/** Binance pushes a forming kline every 2 s, a 1s kline every second. */
export const pushIntervalMs = (interval: string) => (interval === '1s' ? 1000 : 2000);

/** Missed pushes before a series is called stale. */
export const STALE_PUSHES = 3;

/** Inter-arrival gaps kept to learn the feed's own pace. */
export const GAPS_KEPT = 8;

export interface StalenessInput {
  interval: string;
  /** Browser clock now, and when the last live update of this series arrived. */
  localNow: number;
  lastUpdateAt: number;
  /** Recent gaps between live updates (ms), oldest first. */
  recentGaps: readonly number[];
  /** Open time of the newest bar, and the exchange-minus-local clock skew. */
  lastBarTime: number | undefined;
  skew: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

/**
 * Stale means an update is overdue by the feed's own measure, not after a fixed time: several push
 * intervals without one while the bar has been changing at the push pace (a quiet market that
 * updates every 20 s waits proportionally longer), or, however quiet, a new bar that should have
 * opened several pushes ago and has not arrived.
 */
export function isStale(i: StalenessInput): boolean {
  const push = pushIntervalMs(i.interval);
  const pace = Math.max(push, median(i.recentGaps));
  const silent = i.localNow - i.lastUpdateAt;
  if (silent > STALE_PUSHES * pace) return true;
  if (i.lastBarTime === undefined) return false;
  const exchangeNow = i.localNow + i.skew;
  return exchangeNow > nextOpen(i.lastBarTime, i.interval) + STALE_PUSHES * push && silent > STALE_PUSHES * push;
}
