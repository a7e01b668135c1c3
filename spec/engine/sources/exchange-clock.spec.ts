import { describe, expect, it } from 'vitest';
import { ExchangeClock } from '../../../engine/src/sources/exchange-clock.ts';

/** A clock with hand-moved host clocks: `mono` never steps, `wall` can. */
function rig(ttl?: number) {
  const host = { mono: 1000, wall: 1_700_000_000_000 };
  const clock = new ExchangeClock({ monotonic: () => host.mono, wall: () => host.wall, sampleTtlMs: ttl });
  return { host, clock };
}

describe('ExchangeClock', () => {
  it("stands in with the host's wall clock until the exchange tells its time", () => {
    const { host, clock } = rig();
    expect(clock.synced).toBe(false);
    expect(clock.now()).toBe(host.wall);
    expect(clock.skewMs).toBeUndefined();
  });

  it('runs on from the time told, by the monotonic clock, whatever the wall clock does', () => {
    const { host, clock } = rig();
    const exchange = host.wall - 3 * 86_400_000; // three days behind the host
    clock.observe(exchange);
    expect(clock.synced).toBe(true);
    expect(clock.now()).toBe(exchange);
    host.mono += 1500;
    host.wall += 3_600_000; // the host's wall clock steps an hour: the estimate does not follow
    expect(clock.now()).toBe(exchange + 1500);
    expect(clock.skewMs).toBe(exchange + 1500 - host.wall);
  });

  it('keeps the highest recent bound: a late (low) event time never pulls it back', () => {
    const { host, clock } = rig(60_000);
    clock.observe(50_000);
    host.mono += 100;
    clock.observe(49_000); // an event delayed 1.1 s in flight
    expect(clock.now()).toBe(50_100);
    clock.observe(50_300); // a fresher bound raises it (an exchange running fast, or less latency)
    expect(clock.now()).toBe(50_300);
  });

  it('lets a lower bound replace one older than the TTL (an exchange clock stepped back)', () => {
    const { host, clock } = rig(10_000);
    clock.observe(50_000);
    host.mono += 10_001;
    clock.observe(55_000); // lower than the 60_001 the old bound says now
    expect(clock.now()).toBe(55_000);
  });

  it('ignores values that are not times', () => {
    const { host, clock } = rig();
    for (const bad of [NaN, Infinity, -5, 0]) clock.observe(bad);
    expect(clock.synced).toBe(false);
    expect(clock.now()).toBe(host.wall);
  });

  it('syncs from serverTime, and a failed ask leaves the estimate as it was', async () => {
    const { clock } = rig();
    await clock.sync(() => Promise.resolve(123_456));
    expect(clock.now()).toBe(123_456);
    await expect(clock.sync(() => Promise.reject(new Error('HTTP 503')))).rejects.toThrow('HTTP 503');
    expect(clock.now()).toBe(123_456);
  });

  it('rejects a bad TTL when built', () => {
    expect(() => new ExchangeClock({ sampleTtlMs: 0 })).toThrow(TypeError);
  });

  it('doubts a lone sample far ahead of the estimate and the host (reproduced: one event stamped 2100 set the clock there)', () => {
    const { host, clock } = rig();
    clock.observe(host.wall);
    host.mono += 100;
    clock.observe(Date.UTC(2100, 0, 1));
    expect(clock.now()).toBe(host.wall + 100);
    host.mono += 100;
    clock.observe(host.wall + 200);
    host.mono += 100;
    clock.observe(Date.UTC(2100, 0, 1));
    expect(clock.now()).toBe(host.wall + 300);
  });

  it('follows a clock that keeps leaping ahead (a sped-up simulator), a sample late', () => {
    const { host, clock } = rig();
    clock.observe(host.wall);
    for (let i = 1; i <= 4; i++) {
      host.mono += 50;
      clock.observe(host.wall + i * 15_000);
    }
    // The 2nd and 4th were taken (each confirming the one before); the 3rd waited.
    expect(clock.now()).toBe(host.wall + 60_000);
    // And the estimate behind the host's clock by a day (a VM that slept) catches up with it at once.
    const { host: h2, clock: c2 } = rig();
    c2.observe(h2.wall - 86_400_000);
    h2.mono += 10;
    c2.observe(h2.wall);
    expect(c2.now()).toBe(h2.wall);
  });
});
