import { describe, expect, it } from 'vitest';
import { isStale, STALE_PUSHES } from '../../../client/src/feed/staleness.ts';

const T = Date.UTC(2026, 0, 5, 10, 0);
const base = { interval: '1m', lastUpdateAt: T, recentGaps: [2000, 2000, 2000], lastBarTime: T - 20_000, skew: 0 };

describe('stale badge', () => {
  it('is stale after several missed pushes of a feed that pushes every 2 s, not after a fixed 10 s', () => {
    expect(isStale({ ...base, localNow: T + STALE_PUSHES * 2000 - 1 })).toBe(false);
    expect(isStale({ ...base, localNow: T + STALE_PUSHES * 2000 + 1 })).toBe(true);
  });

  it('counts 1 s pushes for 1s bars', () => {
    expect(isStale({ ...base, interval: '1s', recentGaps: [1000, 1000], lastBarTime: T - 500, localNow: T + STALE_PUSHES * 1000 + 1 })).toBe(true);
  });

  it('gives a quiet market its own pace, but a bar that should have opened is overdue however quiet', () => {
    const quiet = { ...base, recentGaps: [20_000, 25_000, 20_000], lastBarTime: T - 10_000 };
    expect(isStale({ ...quiet, localNow: T + 30_000 })).toBe(false);
    // Bar T-10 s closed at T+50 s; a new one is due by then plus a few pushes.
    expect(isStale({ ...quiet, localNow: T + 50_000 + STALE_PUSHES * 2000 + 1 })).toBe(true);
  });

  it('a feed faster than Binance (the test simulator) is held to the push interval, never less', () => {
    expect(isStale({ ...base, recentGaps: [250, 250, 250], localNow: T + 3000 })).toBe(false);
  });
});
