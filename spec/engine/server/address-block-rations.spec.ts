import { describe, expect, it } from 'vitest';
import { AddressConnections } from '../../../engine/src/server/address-connections.ts';
import { AddressRateLimit, IPV6_BLOCK_SHARE } from '../../../engine/src/server/address-rate-limit.ts';

/** The n-th /64 of one IPv6 /48 (as clientAddress rations them: the /64's network). */
const sixtyFour = (n: number) => `2001:db8:7:${n.toString(16)}::`;

describe('per-address rations pool an IPv6 /48 (each /64 is rationed apart: a site held 65,536 rations)', () => {
  it('AddressRateLimit: the /64s of one /48 share IPV6_BLOCK_SHARE addresses worth; another /48 and IPv4 addresses are apart', () => {
    let now = 0;
    const limit = new AddressRateLimit({ perMinute: 60, burst: 5, now: () => now });
    // Each /64 spends its own burst of 5 until the /48 has spent 16 bursts' worth.
    let allowed = 0;
    for (let i = 0; i < 100; i++) for (let k = 0; k < 5; k++) if (limit.take(sixtyFour(i)) === 0) allowed++;
    expect(allowed).toBe(5 * IPV6_BLOCK_SHARE);
    // Refused with the block's wait (a second: it refills at 16 a second).
    expect(limit.take(sixtyFour(200))).toBe(1);
    // Another /48, and IPv4 addresses of one /24, each have their own.
    expect(limit.take('2001:db8:8:1::')).toBe(0);
    for (let i = 1; i <= 50; i++) expect(limit.take(`198.51.100.${i}`)).toBe(0);
    // The block refills at IPV6_BLOCK_SHARE times one address's rate.
    now += 1000;
    let again = 0;
    for (let i = 300; i < 340; i++) if (limit.take(sixtyFour(i)) === 0) again++;
    expect(again).toBe(IPV6_BLOCK_SHARE);
  });

  it('AddressRateLimit: a take refused by the block spends nothing of the address', () => {
    const limit = new AddressRateLimit({ perMinute: 60, burst: 2, now: () => 0 });
    for (let i = 0; i < IPV6_BLOCK_SHARE; i++) for (let k = 0; k < 2; k++) expect(limit.take(sixtyFour(i))).toBe(0);
    const fresh = sixtyFour(999);
    expect(limit.take(fresh)).toBeGreaterThan(0);
    // Its own bucket is still full: it is the block that waits.
    const other = new AddressRateLimit({ perMinute: 60, burst: 2, now: () => 0 });
    expect(other.take(fresh, 2)).toBe(0);
  });

  it('AddressConnections: a /48 holds at most IPV6_BLOCK_SHARE times the cap; closing one frees a place', () => {
    const open = new AddressConnections(3);
    let held = 0;
    for (let i = 0; i < 100; i++) for (let k = 0; k < 3; k++) if (open.add(sixtyFour(i))) held++;
    expect(held).toBe(3 * IPV6_BLOCK_SHARE);
    expect(open.fits(sixtyFour(500))).toBe(false);
    expect(open.fits('2001:db8:8::')).toBe(true);
    open.remove(sixtyFour(0));
    expect(open.fits(sixtyFour(500))).toBe(true);
    // Each address keeps its own cap too; IPv4 is not pooled.
    expect(open.add(sixtyFour(0))).toBe(true);
    expect(open.add(sixtyFour(0))).toBe(false);
    for (let i = 1; i <= 100; i++) expect(open.add(`198.51.100.${i}`)).toBe(true);
    // Everything counted out leaves nothing behind.
    for (let i = 0; i < IPV6_BLOCK_SHARE; i++) for (let k = 0; k < 3; k++) open.remove(sixtyFour(i));
    for (let i = 1; i <= 100; i++) open.remove(`198.51.100.${i}`);
    expect(open.addresses).toBe(0);
    expect(open.count(sixtyFour(1))).toBe(0);
  });

  it('AddressConnections: no cap, no counting', () => {
    const open = new AddressConnections(0);
    for (let i = 0; i < 1000; i++) expect(open.add(sixtyFour(i))).toBe(true);
  });
});
