import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LiveTimeShare } from '../../../engine/src/series/live-time-share.ts';

describe('LiveTimeShare', () => {
  it('says nothing while all keys together stay within the share, then names the one that spent most, not the one whose time tipped it', () => {
    const share = new LiveTimeShare(10_000, 0.25);
    expect(share.limitMs).toBe(2500);
    expect(share.add('slow', 2000, 100)).toBeUndefined();
    expect(share.add('fast', 400, 200)).toBeUndefined();
    expect(share.add('fast', 200, 300)).toEqual({ key: 'slow', ownMs: 2000, totalMs: 2600 });
  });

  it("forgets a stopped key's time: the next add is judged without it", () => {
    const share = new LiveTimeShare(10_000, 0.25);
    share.add('slow', 2000, 100);
    share.add('fast', 600, 200);
    share.forget('slow');
    expect(share.size).toBe(1);
    expect(share.add('fast', 100, 300)).toBeUndefined();
    expect(share.add('fast', 1900, 400)).toEqual({ key: 'fast', ownMs: 2600, totalMs: 2600 });
  });

  it('lets time older than the window go', () => {
    const share = new LiveTimeShare(10_000, 0.25);
    share.add('a', 2400, 0);
    // 10 s later the first second's bucket has left the window.
    expect(share.add('a', 2400, 10_500)).toBeUndefined();
    expect(share.add('b', 200, 10_600)).toEqual({ key: 'a', ownMs: 2400, totalMs: 2600 });
  });

  it('counts a clock that steps back in the newest bucket rather than an old one', () => {
    const share = new LiveTimeShare(10_000, 0.25);
    share.add('a', 1000, 9_000);
    expect(share.add('a', 2000, 1_000)).toEqual({ key: 'a', ownMs: 3000, totalMs: 3000 });
  });

  it('names the highest rate, over the time since a key was first counted: one stopped and back is not hidden behind those counted all along (a review: a cheap one was stopped for it)', () => {
    const share = new LiveTimeShare(10_000, 0.25);
    // Two cheap ones, 120 ms a second each, for 9 s.
    for (let t = 1000; t <= 9000; t += 1000) {
      expect(share.add('cheap-a', 120, t)).toBeUndefined();
      expect(share.add('cheap-b', 120, t)).toBeUndefined();
    }
    // A heavy one back after a stop: 300 ms a second, 0.6 s so far against the cheap ones' 1.08 s each.
    expect(share.add('heavy', 300, 9500)).toBeUndefined();
    expect(share.add('heavy', 300, 10_500)).toEqual({ key: 'heavy', ownMs: 600, totalMs: 2760 });
  });

  it("divides a key's rate by the clients it serves: forty cheap variants of one client each go before one series forty watch (a review: the popular one was given up)", () => {
    const share = new LiveTimeShare(10_000, 0.25);
    const holders = (k: string) => (k === 'popular' ? 40 : 1);
    let got;
    for (let t = 1000; t <= 10_000 && !got; t += 1000) {
      got = share.add('popular', 100, t, holders);
      for (let v = 0; v < 40 && !got; v++) got = share.add(`variant-${v}`, 5, t, holders);
    }
    expect(got?.key).toMatch(/^variant-/);
  });

  it('counts nothing of a reading that is not a time (a NaN had switched the check off for good), and a huge clock does not hang it', () => {
    const share = new LiveTimeShare(10_000, 0.25);
    for (const [ms, now] of [
      [Number.NaN, 100],
      [-500, 100],
      [Number.POSITIVE_INFINITY, 100],
      [100, Number.NaN],
    ]) expect(share.add('a', ms!, now!)).toBeUndefined();
    expect(share.size).toBe(0);
    expect(share.add('a', 3000, 200)).toEqual({ key: 'a', ownMs: 3000, totalMs: 3000 });
    share.forget('a');
    expect(share.add('b', 100, 2 ** 60)).toBeUndefined();
    expect(share.add('b', 3000, 2 ** 60 + 5000)).toMatchObject({ key: 'b' });
  });

  it('reports what a model of the window holds: the adds of the last `buckets` buckets, less the forgotten keys', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom('a', 'b', 'c'), ms: fc.integer({ min: 0, max: 900 }), dt: fc.integer({ min: 0, max: 4000 }) }),
      fc.record({ kind: fc.constant('forget' as const), key: fc.constantFrom('a', 'b', 'c') }),
    );
    // The runs that go over the share (and name a key) are counted: the checks of a named key ran.
    let named = 0;
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const share = new LiveTimeShare(10_000, 0.25);
        const log: Array<{ key: string; ms: number; bucket: number }> = [];
        // When each key was first counted (since its last forget): its rate is over the time since.
        const since = new Map<string, number>();
        const drop = (key: string) => {
          since.delete(key);
          for (let i = log.length - 1; i >= 0; i--) if (log[i]!.key === key) log.splice(i, 1);
        };
        let now = 0;
        for (const s of steps) {
          if (s.kind === 'forget') {
            share.forget(s.key);
            drop(s.key);
            continue;
          }
          now += s.dt;
          const bucket = Math.floor(now / 1000);
          if (!since.has(s.key)) since.set(s.key, now - s.ms);
          log.push({ key: s.key, ms: s.ms, bucket });
          const inWindow = log.filter((e) => e.bucket > bucket - 10);
          const total = inWindow.reduce((t, e) => t + e.ms, 0);
          const got = share.add(s.key, s.ms, now);
          if (total <= 2500) {
            expect(got).toBeUndefined();
            continue;
          }
          const own = (k: string) => inWindow.filter((e) => e.key === k).reduce((t, e) => t + e.ms, 0);
          const rate = (k: string) => own(k) / Math.max(1000, Math.min(10_000, now - since.get(k)!));
          expect(got).toBeDefined();
          named++;
          expect(got!.totalMs).toBeCloseTo(total, 6);
          expect(got!.ownMs).toBeCloseTo(own(got!.key), 6);
          for (const k of since.keys()) expect(rate(k)).toBeLessThanOrEqual(rate(got!.key) + 1e-9);
          // The caller stops the one named.
          share.forget(got!.key);
          drop(got!.key);
        }
      }),
      { numRuns: 300 },
    );
    expect(named).toBeGreaterThan(0);
  });
});
