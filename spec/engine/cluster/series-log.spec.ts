import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { MemoryPositions } from '../../../engine/src/cluster/memory-positions.ts';
import { historyShare, SeriesLog } from '../../../engine/src/cluster/series-log.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';

const bar = (minute: number, close: number, closed = false): Bar => ({ openTime: minute * 60_000, open: 1, high: 9, low: 0, close, volume: close, closed });

describe('SeriesLog', () => {
  it('numbers updates 1, 2, 3… and recovers the latest version of each bar touched after `since`', () => {
    const log = new SeriesLog('e1', { updates: 100, maxAgeMs: 60_000 });
    expect(log.append(bar(0, 1), 0)).toEqual({ epoch: 'e1', offset: 1 });
    log.append(bar(0, 2), 0);
    log.append(bar(0, 3, true), 0);
    log.append(bar(1, 4), 0);
    log.append(bar(1, 5), 0);
    expect(log.position).toEqual({ epoch: 'e1', offset: 5 });
    expect(log.recover('e1', 1, 0)).toEqual({ position: { epoch: 'e1', offset: 5 }, bars: [bar(0, 3, true), bar(1, 5)] });
    expect(log.recover('e1', 3, 0)!.bars).toEqual([bar(1, 5)]);
    expect(log.recover('e1', 5, 0)!.bars).toEqual([]);
    expect(log.recover('e1', 0, 0)!.bars).toEqual([bar(0, 3, true), bar(1, 5)]);
  });

  it('refuses another epoch, a future offset, and an offset the bounded history no longer reaches', () => {
    const log = new SeriesLog('e1', { updates: 3, maxAgeMs: 60_000 });
    for (let i = 1; i <= 5; i++) log.append(bar(i, i), 0);
    expect(log.recover('e2', 4, 0)).toBeUndefined();
    expect(log.recover('e1', 6, 0)).toBeUndefined();
    // Kept: offsets 3, 4, 5; a resume after 2 still works, after 1 does not.
    expect(log.recover('e1', 2, 0)!.bars.map((b) => b.close)).toEqual([3, 4, 5]);
    expect(log.recover('e1', 1, 0)).toBeUndefined();
    expect(log.size).toBe(3);
  });

  it('forgets entries older than maxAgeMs, but a client that missed nothing still resumes', () => {
    const log = new SeriesLog('e1', { updates: 100, maxAgeMs: 1000 });
    log.append(bar(1, 1), 0);
    log.append(bar(2, 2), 500);
    expect(log.recover('e1', 0, 1200)).toBeUndefined();
    expect(log.recover('e1', 1, 1200)!.bars).toEqual([bar(2, 2)]);
    expect(log.recover('e1', 2, 5000)).toEqual({ position: { epoch: 'e1', offset: 2 }, bars: [] });
    expect(log.size).toBe(0);
  });

  it('records offsets given by a writer elsewhere only in sequence, starting where it joined', () => {
    const log = new SeriesLog('e1', { updates: 10, maxAgeMs: 1000 }, 41);
    expect(log.recover('e1', 40, 0)).toBeUndefined();
    log.record(42, bar(1, 1), 0);
    expect(() => log.record(44, bar(1, 2), 0)).toThrow(RangeError);
    expect(log.entriesAfter(41, 0)).toEqual([{ offset: 42, bar: bar(1, 1) }]);
  });

  it('enforces maxAgeMs on writes: a series nobody resumes keeps only the last maxAgeMs of updates', () => {
    const log = new SeriesLog('e', { updates: 1000, maxAgeMs: 10_000 });
    // One update a second for an hour and never a read: before, all 1000 stayed (expiry ran on reads only).
    for (let i = 1; i <= 3600; i++) log.append(bar(i, i), i * 1000);
    expect(log.size).toBe(11);
    expect(log.entriesAfter(3589, 3_600_000)!.map((e) => e.offset)).toEqual(Array.from({ length: 11 }, (_, k) => 3590 + k));
  });

  it('keeps at most the share it is given, and at least the last update', () => {
    const log = new SeriesLog('e', { updates: 100, maxAgeMs: 1e9 });
    for (let i = 1; i <= 50; i++) log.append(bar(i, i), i);
    expect(log.size).toBe(50);
    log.append(bar(51, 51), 51, 10);
    expect(log.size).toBe(10);
    log.append(bar(52, 52), 52, 0);
    expect(log.size).toBe(1);
    expect(log.recover('e', 51, 52)!.bars).toEqual([bar(52, 52)]);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 250_000 }, 9000)).toBe(27);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 250_000 }, 10)).toBe(1000);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 10 }, 50)).toBe(1);
    expect(historyShare({ updates: 1000, maxAgeMs: 1 }, 1e6)).toBe(1000);
    // Configured series share first, the rest what they leave (at least 1 each).
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 250_000 }, 2004, 4, true)).toBe(1000);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 250_000 }, 2004, 4, false)).toBe(123);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 250_000 }, 1500, 1500, true)).toBe(166);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 250_000 }, 1600, 1500, false)).toBe(10);
    expect(historyShare({ updates: 1000, maxAgeMs: 1, totalUpdates: 150_000 }, 1600, 1500, false)).toBe(1);
  });

  it('stays bounded over a long run (compaction keeps offsets right)', () => {
    const log = new SeriesLog('e', { updates: 50, maxAgeMs: 1e9 });
    for (let i = 1; i <= 10_000; i++) log.append(bar(i, i), i);
    expect(log.size).toBe(50);
    expect(log.entriesAfter(9_950, 10_000)!.map((e) => [e.offset, e.bar.close])).toEqual(Array.from({ length: 50 }, (_, k) => [9_951 + k, 9_951 + k]));
  });

  it('gives back exactly what it kept, in order, as its ring grows, wraps, shrinks to a smaller share and grows again', () => {
    const log = new SeriesLog('e', { updates: 100, maxAgeMs: 1e9 });
    const b = (i: number) => ({ ...bar(i, i + 0.5, i % 3 === 0), volume: i * 1.25 });
    const kept = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => ({ offset: from + k, bar: b(from + k) }));
    for (let i = 1; i <= 250; i++) log.append(b(i), i);
    expect(log.entriesAfter(150, 250)).toEqual(kept(151, 250));
    for (let i = 251; i <= 260; i++) log.append(b(i), i, 7);
    expect(log.entriesAfter(253, 260)).toEqual(kept(254, 260));
    expect(log.entriesAfter(252, 260)).toBeUndefined();
    for (let i = 261; i <= 400; i++) log.append(b(i), i);
    expect(log.size).toBe(100);
    expect(log.entriesAfter(300, 400)).toEqual(kept(301, 400));
  });
});

describe('MemoryPositions', () => {
  it('gives every series its own epoch and offsets, and a new process a new epoch', () => {
    const a = new MemoryPositions({ updates: 10, maxAgeMs: 1000 }, () => 0);
    const btc = seriesId('BTCUSDT', '1m');
    const eth = seriesId('ETHUSDT', '1m');
    a.append(btc, bar(1, 1));
    a.append(btc, bar(1, 2));
    expect(a.position(btc).offset).toBe(2);
    expect(a.position(eth).offset).toBe(0);
    expect(a.position(eth).epoch).not.toBe(a.position(btc).epoch);
    const b = new MemoryPositions({ updates: 10, maxAgeMs: 1000 }, () => 0);
    expect(b.position(btc).epoch).not.toBe(a.position(btc).epoch);
    expect(a.recover(btc, a.position(btc).epoch, 1)!.bars).toEqual([bar(1, 2)]);
    expect(b.recover(btc, a.position(btc).epoch, 0)).toBeUndefined();
  });

  it('keeps all series together within totalUpdates however many series run (no reads, no releases)', () => {
    let now = 0;
    const p = new MemoryPositions({ updates: 1000, maxAgeMs: 600_000, totalUpdates: 5000 }, () => now);
    const ids = Array.from({ length: 500 }, (_, i) => seriesId(`S${i}USDT`, '1m'));
    // 200 updates per series, 2 s apart per series: before, every series kept all 200 (100,000 entries).
    for (let round = 0; round < 200; round++) {
      now += 2000;
      for (const id of ids) p.append(id, bar(round, round));
    }
    expect(p.entries).toBeLessThanOrEqual(5000);
    expect(p.entries).toBe(500 * 10);
    // Released series give their memory back.
    for (const id of ids.slice(100)) p.forget(id);
    expect(p.entries).toBe(100 * 10);
  });

  it("keeps a configured series' whole history however many other series run (reproduced: 2,000 unwatched on-demand series cut it to 124 updates)", () => {
    let now = 0;
    const configured = seriesId('BTCUSDT', '1m');
    const p = new MemoryPositions({ updates: 1000, maxAgeMs: 600_000_000, totalUpdates: 250_000 }, () => now, (id) => id.key === configured.key);
    const others = Array.from({ length: 2000 }, (_, i) => seriesId(`S${i}USDT`, '1m'));
    for (const id of others) p.append(id, bar(0, 0));
    for (let round = 0; round < 1000; round++) {
      now += 2000;
      p.append(configured, bar(round, round));
    }
    // The whole history: a resume from 1,000 updates back is recovered.
    expect(p.recover(configured, p.position(configured).epoch, 0)?.bars).toHaveLength(1000);
    // Every other series still keeps its share (the rest, split).
    for (let round = 1; round < 200; round++) p.append(others[0]!, bar(round, round));
    // Its newest 124 updates (offsets 77 to 200), one bar each.
    expect(p.recover(others[0]!, p.position(others[0]!).epoch, 200 - 124)?.bars.map((b) => b.openTime)).toEqual(Array.from({ length: 124 }, (_, i) => bar(76 + i, 0).openTime));
    expect(p.entries).toBeLessThanOrEqual(250_000);
  });
});
