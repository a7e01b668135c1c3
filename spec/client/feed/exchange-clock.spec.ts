import { describe, expect, it } from 'vitest';
import { countdownText, formatCountdown, nextOpen, observeSkew } from '../../../client/src/feed/exchange-clock.ts';

const T = Date.UTC(2026, 0, 5, 10, 0);

describe('exchange clock and candle countdown', () => {
  it('finds the close of native, custom and calendar intervals', () => {
    expect(nextOpen(T, '1m')).toBe(T + 60_000);
    expect(nextOpen(T, '10m')).toBe(T + 600_000);
    expect(nextOpen(T, '45m')).toBe(T + 2_700_000);
    expect(nextOpen(T, '1s')).toBe(T + 1000);
    expect(nextOpen(T, '2d')).toBe(T + 2 * 86_400_000);
    expect(nextOpen(Date.UTC(2026, 0, 1), '1M')).toBe(Date.UTC(2026, 1, 1));
    expect(nextOpen(Date.UTC(2026, 10, 1), '3M')).toBe(Date.UTC(2027, 1, 1));
  });

  it('formats what is left as exchanges do', () => {
    expect(formatCountdown(37_000)).toBe('00:37');
    expect(formatCountdown(36_200)).toBe('00:37');
    expect(formatCountdown(600_000)).toBe('10:00');
    expect(formatCountdown(3_725_000)).toBe('01:02:05');
    expect(formatCountdown(2 * 86_400_000 + 4 * 3_600_000)).toBe('2d 04h');
    expect(formatCountdown(-5)).toBe('00:00');
    expect(countdownText(T, '10m', T + 23_000)).toBe('09:37');
  });

  it('keeps the skew inside what the feed proves, moving it as little as possible', () => {
    // A clock in step with the exchange stays at 0.
    expect(observeSkew(0, { time: T, is_closed: false }, '1m', T + 1500, true)).toBe(0);
    // A browser 5 s slow sees a new bar 5 s "before" it opened: the skew rises to at least 5 s.
    expect(observeSkew(0, { time: T, is_closed: false }, '1m', T - 5000, true)).toBe(5000);
    // A browser 10 s fast sees a forming bar 70 s after it opened: the exchange is at most at its close.
    expect(observeSkew(0, { time: T, is_closed: false }, '1m', T + 70_000, true)).toBe(-10_000);
    // A snapshot's forming bar may be old (an outage): it only bounds from below.
    expect(observeSkew(0, { time: T, is_closed: false }, '1m', T + 70_000, false)).toBe(0);
    // A closed bar's final arrives after the close: no upper bound from it.
    expect(observeSkew(0, { time: T, is_closed: true }, '1m', T + 61_000, true)).toBe(0);
  });
});
