import { describe, expect, it } from 'vitest';
import { FeedLag } from '../../../client/src/feed/feed-lag.ts';

describe('FeedLag', () => {
  it('reads a clock offset, however large, as no lag: only a delay beyond the quickest counts', () => {
    const lag = new FeedLag();
    // The engine's clock an hour ahead of this one; deliveries take 20–40 ms.
    const offset = 3_600_000;
    expect(lag.observe(1_000 + offset, 1_040)).toBe(0);
    expect(lag.observe(2_000 + offset, 2_020)).toBe(0);
    expect(lag.observe(3_000 + offset, 3_030)).toBe(10);
    // Handled 7 s after it was sent: 7 s later than the quickest delivery seen.
    expect(lag.observe(4_000 + offset, 11_020)).toBe(7_000);
  });

  it('starts over on a new connection (another engine, another clock)', () => {
    const lag = new FeedLag();
    lag.observe(1_000, 1_010);
    expect(lag.observe(2_000, 9_010)).toBe(7_000);
    lag.reset();
    expect(lag.observe(-50_000, 9_500)).toBe(0);
    expect(lag.observe(-49_000, 10_500)).toBe(0);
  });
});
