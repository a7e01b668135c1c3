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

  it('reports what a model of the window holds: the adds of the last `buckets` buckets, less the forgotten keys', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom('a', 'b', 'c'), ms: fc.integer({ min: 0, max: 900 }), dt: fc.integer({ min: 0, max: 4000 }) }),
      fc.record({ kind: fc.constant('forget' as const), key: fc.constantFrom('a', 'b', 'c') }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const share = new LiveTimeShare(10_000, 0.25);
        const log: Array<{ key: string; ms: number; bucket: number }> = [];
        let now = 0;
        for (const s of steps) {
          if (s.kind === 'forget') {
            share.forget(s.key);
            for (let i = log.length - 1; i >= 0; i--) if (log[i]!.key === s.key) log.splice(i, 1);
            continue;
          }
          now += s.dt;
          const bucket = Math.floor(now / 1000);
          log.push({ key: s.key, ms: s.ms, bucket });
          const inWindow = log.filter((e) => e.bucket > bucket - 10);
          const total = inWindow.reduce((t, e) => t + e.ms, 0);
          const got = share.add(s.key, s.ms, now);
          if (total <= 2500) {
            expect(got).toBeUndefined();
            continue;
          }
          const own = (k: string) => inWindow.filter((e) => e.key === k).reduce((t, e) => t + e.ms, 0);
          expect(got).toBeDefined();
          expect(got!.totalMs).toBeCloseTo(total, 6);
          expect(got!.ownMs).toBeCloseTo(own(got!.key), 6);
          for (const k of ['a', 'b', 'c']) expect(own(k)).toBeLessThanOrEqual(got!.ownMs + 1e-6);
          // The caller stops the one named.
          share.forget(got!.key);
          for (let i = log.length - 1; i >= 0; i--) if (log[i]!.key === got!.key) log.splice(i, 1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
