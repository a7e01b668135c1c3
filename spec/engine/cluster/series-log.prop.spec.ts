import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { SeriesLog } from '../../../engine/src/cluster/series-log.ts';

const arbUpdate = fc.record({ minute: fc.integer({ min: 0, max: 8 }), close: fc.integer({ min: 1, max: 99 }), dt: fc.integer({ min: 0, max: 400 }) });

describe('SeriesLog (property)', () => {
  test.prop([fc.array(arbUpdate, { maxLength: 120 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3000 }), fc.nat(130)])(
    'a resume gets exactly the coalesced updates after `since`, or nothing when any of them is no longer kept',
    (updates, cap, maxAgeMs, since) => {
      const log = new SeriesLog('e', { updates: cap, maxAgeMs });
      let now = 0;
      const all: Array<{ bar: Bar; at: number }> = [];
      for (const u of updates) {
        now += u.dt;
        const b: Bar = { openTime: u.minute * 60_000, open: 1, high: 1, low: 1, close: u.close, volume: 1, closed: false };
        log.append(b, now);
        all.push({ bar: b, at: now });
      }
      // Model: offset k is all[k-1]; it is kept when among the last `cap` and not older than maxAgeMs.
      const kept = (k: number) => k > all.length - cap && all[k - 1]!.at >= now - maxAgeMs;
      const got = log.recover('e', since, now);
      if (since > all.length) return void expect(got).toBeUndefined();
      const missed = all.slice(since).map((e, i) => ({ ...e, offset: since + 1 + i }));
      if (!missed.every((e) => kept(e.offset))) return void expect(got).toBeUndefined();
      const latest = new Map<number, Bar>();
      for (const e of missed) latest.set(e.bar.openTime, e.bar);
      expect(got).toEqual({ position: { epoch: 'e', offset: all.length }, bars: [...latest.values()].sort((a, b) => a.openTime - b.openTime) });
    },
  );
});
