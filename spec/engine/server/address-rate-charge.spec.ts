import { describe, expect, it } from 'vitest';
import { AddressRateLimit } from '../../../engine/src/server/address-rate-limit.ts';

describe('AddressRateLimit.charge: what a request turned out to cost', () => {
  it('takes tokens whether or not they are there, down to a debt of one burst, and the address waits it off', () => {
    let now = 0;
    const limit = new AddressRateLimit({ perMinute: 600, burst: 20, now: () => now });
    expect(limit.take('198.51.100.1')).toBe(0);
    limit.charge('198.51.100.1', 100);
    // 19 left, 100 charged: a debt of 20 at most, so 21 tokens to wait for at 10 a second.
    expect(limit.take('198.51.100.1')).toBe(3);
    now += 2000;
    expect(limit.take('198.51.100.1')).toBe(1);
    now += 1000;
    expect(limit.take('198.51.100.1')).toBe(0);
    // Another address is not charged.
    expect(limit.take('198.51.100.2', 20)).toBe(0);
  });

  it("charges an IPv6 address's /48 too", () => {
    const limit = new AddressRateLimit({ perMinute: 60, burst: 1, now: () => 0 });
    for (let i = 0; i < 16; i++) limit.charge(`2001:db8:1:${i}::1`, 1);
    // The /48's pool (16 addresses' worth) is spent: a fresh /64 in it waits.
    expect(limit.take('2001:db8:1:99::1')).toBeGreaterThan(0);
    expect(limit.take('2001:db8:2::1')).toBe(0);
  });
});
