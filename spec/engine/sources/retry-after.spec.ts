import { describe, expect, it } from 'vitest';
import { MAX_429_WAIT_MS, MAX_RETRY_AFTER_MS, refusalWaitMs, retryAfterMs } from '../../../engine/src/sources/retry-after.ts';

describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-04T00:00:00Z');
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('7', 60_000, now)).toBe(7000);
    expect(retryAfterMs(['2.5'], 60_000, now)).toBe(2500);
    expect(retryAfterMs('Fri, 04 Dec 2026 00:02:00 GMT', 60_000, now)).toBe(120_000);
  });
  it('falls back when absent or unreadable', () => {
    expect(retryAfterMs(undefined, 60_000, now)).toBe(60_000);
    expect(retryAfterMs('', 60_000, now)).toBe(60_000);
    expect(retryAfterMs('soon', 60_000, now)).toBe(60_000);
    expect(retryAfterMs('1e12', 60_000, now)).toBe(60_000);
  });
  it('keeps a hostile value within 1 s and Binance longest ban (3 days)', () => {
    expect(retryAfterMs('0', 60_000, now)).toBe(1000);
    expect(retryAfterMs('-5', 60_000, now)).toBe(1000);
    expect(retryAfterMs('1000000000000', 60_000, now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:00 GMT', 60_000, now)).toBe(1000);
  });
  it('lets a 429 (no ban) ask for 5 minutes at most, a 418 (a ban) for 3 days (reproduced: one 429 of 999999999 s stopped every fill)', () => {
    expect(refusalWaitMs(429, '999999999', now)).toBe(MAX_429_WAIT_MS);
    expect(refusalWaitMs(418, '999999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(refusalWaitMs(429, undefined, now)).toBe(60_000);
    expect(refusalWaitMs(418, undefined, now)).toBe(120_000);
    expect(refusalWaitMs(429, '30', now)).toBe(30_000);
  });
});
