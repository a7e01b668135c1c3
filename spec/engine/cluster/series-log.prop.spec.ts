import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { SeriesLog } from '../../../engine/src/cluster/series-log.ts';
import { MemoryPositions } from '../../../engine/src/cluster/memory-positions.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';

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

  test.prop([fc.array(fc.record({ cap: fc.integer({ min: 0, max: 70 }), close: fc.integer({ min: 1, max: 99 }), closed: fc.boolean() }), { maxLength: 300 })])(
    'as its share moves up and down (the ring grows and shrinks), a log keeps exactly the newest entries its shares allow, values intact',
    (writes) => {
      const log = new SeriesLog('e', { updates: 50, maxAgeMs: 1e9 });
      const all: Bar[] = [];
      let kept = 0;
      writes.forEach((w, i) => {
        const b: Bar = { openTime: i * 60_000, open: w.close / 3, high: w.close, low: 0.1, close: w.close / 7, volume: i / 9, closed: w.closed };
        log.append(b, i, w.cap);
        all.push(b);
        // Model: one more, then no more than this append's share (at least 1, at most `updates`).
        kept = Math.min(kept + 1, Math.max(1, Math.min(w.cap, 50)));
        expect(log.size).toBe(kept);
        const since = all.length - kept;
        expect(log.entriesAfter(since, i)).toEqual(all.slice(since).map((bar, k) => ({ offset: since + k + 1, bar })));
        expect(log.entriesAfter(since - 1, i)).toBeUndefined();
      });
    },
  );

  test.prop([
    fc.array(fc.record({ series: fc.nat(59), dt: fc.integer({ min: 0, max: 50 }) }), { maxLength: 600 }),
    fc.integer({ min: 1, max: 40 }),
    fc.integer({ min: 1, max: 300 }),
  ])('memory positions stay within max(totalUpdates, series) once every series wrote again, and one missed update always resumes', (writes, updates, totalUpdates) => {
    let now = 0;
    const p = new MemoryPositions({ updates, maxAgeMs: 1e9, totalUpdates }, () => now);
    const ids = Array.from({ length: 60 }, (_, i) => seriesId(`S${i}USDT`, '1m'));
    const used = new Set<number>();
    const b = (close: number): Bar => ({ openTime: 0, open: 1, high: 1, low: 1, close, volume: 1, closed: false });
    for (const w of writes) {
      now += w.dt;
      used.add(w.series);
      p.append(ids[w.series]!, b(now));
      expect(p.entries).toBeLessThanOrEqual(used.size * updates);
    }
    // Every series writes once more: each is then at its share of the final count.
    for (const s of used) {
      const { epoch, offset } = p.position(ids[s]!);
      p.append(ids[s]!, b(-1));
      expect(p.recover(ids[s]!, epoch, offset)!.bars).toEqual([b(-1)]);
    }
    expect(p.entries).toBeLessThanOrEqual(Math.max(totalUpdates, used.size));
  });
});
