import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { Hub, type Publisher } from '../../../engine/src/broadcast/hub.ts';
import { Snapshot, SnapshotCache } from '../../../engine/src/broadcast/snapshot-cache.ts';
import { SeriesWindow } from '../../../engine/src/store/series-window.ts';

const snap = (version: number, size: number) => new Snapshot(version, Buffer.alloc(size, 0x20));

describe('SnapshotCache', () => {
  it('serves a snapshot only at its version and drops a stale one', () => {
    const c = new SnapshotCache();
    c.set('A', snap(3, 10));
    expect(c.get('A', 3)?.version).toBe(3);
    expect(c.get('A', 4)).toBeUndefined();
    expect([c.size, c.bytes]).toEqual([0, 0]);
  });

  it('evicts the least recently used beyond the count and the bytes', () => {
    const c = new SnapshotCache({ maxEntries: 2, maxBytes: 100 });
    c.set('A', snap(1, 40));
    c.set('B', snap(1, 40));
    c.get('A', 1); // A is now the most recently used
    c.set('C', snap(1, 10));
    expect([c.get('A', 1)?.version, c.get('B', 1), c.get('C', 1)?.version]).toEqual([1, undefined, 1]);
    c.set('D', snap(1, 95)); // over 100 bytes with either of the others: both go
    expect([c.size, c.bytes]).toEqual([1, 95]);
    c.set('E', snap(1, 101)); // bigger than the whole budget: served by the caller, never kept
    expect([c.size, c.bytes, c.get('E', 1)]).toEqual([1, 95, undefined]);
  });

  it('rejects limits that are not counts', () => {
    expect(() => new SnapshotCache({ maxEntries: -1 })).toThrow(TypeError);
    expect(() => new SnapshotCache({ maxBytes: Number.NaN })).toThrow(TypeError);
  });

  const arbOp = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: fc.integer({ min: 0, max: 9 }), version: fc.integer({ min: 0, max: 3 }), size: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ op: fc.constant('get' as const), key: fc.integer({ min: 0, max: 9 }), version: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ op: fc.constant('drop' as const), key: fc.integer({ min: 0, max: 9 }) }),
  );
  test.prop([fc.array(arbOp, { maxLength: 100 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 150 })])('matches an LRU model and never exceeds its limits', (ops, maxEntries, maxBytes) => {
    const c = new SnapshotCache({ maxEntries, maxBytes });
    // Model: an array, least recently used first.
    let model: Array<{ key: string; version: number; size: number }> = [];
    for (const o of ops) {
      const key = String(o.key);
      const i = model.findIndex((e) => e.key === key);
      if (o.op === 'set') {
        if (i >= 0) model.splice(i, 1);
        if (o.size <= maxBytes && maxEntries > 0) model.push({ key, version: o.version, size: o.size });
        const sum = () => model.reduce((s, e) => s + e.size, 0);
        while (model.length > maxEntries || sum() > maxBytes) model.shift();
        c.set(key, snap(o.version, o.size));
      } else if (o.op === 'get') {
        const hit = i >= 0 && model[i]!.version === o.version ? model[i]! : undefined;
        if (i >= 0) model.splice(i, 1);
        if (hit) model.push(hit);
        expect(c.get(key, o.version)?.bytes.length).toBe(hit?.size);
      } else {
        model = model.filter((e) => e.key !== key);
        c.drop(key);
      }
      expect(c.size).toBe(model.length);
      expect(c.bytes).toBe(model.reduce((s, e) => s + e.size, 0));
      expect(c.size).toBeLessThanOrEqual(maxEntries);
      expect(c.bytes).toBeLessThanOrEqual(maxBytes);
    }
  });
});

describe('Hub snapshots', () => {
  const bar = (i: number): Bar => ({ openTime: i * 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: i, closed: true });
  const published: string[] = [];
  const publisher: Publisher = { publish: (_t, m) => (published.push(m), true), subscribers: () => 1 };

  it('serializes a snapshot once per window version and drops it when the series changes', () => {
    const hub = new Hub(3, 'test');
    hub.attach(publisher);
    const id = seriesId('BTCUSDT', '1m');
    const w = new SeriesWindow(10);
    for (let i = 1; i <= 5; i++) w.upsert(bar(i));
    const first = hub.snapshot(id, w);
    expect(hub.snapshot(id, w)).toBe(first);
    expect(JSON.parse(first.json)).toMatchObject({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', data: [{ time: 180_000 }, { time: 240_000 }, { time: 300_000 }] });
    expect(hub.snapshotCache).toEqual({ entries: 1, bytes: first.bytes.length });
    w.upsert(bar(6));
    hub.publishBar(id, bar(6));
    expect(hub.snapshotCache).toEqual({ entries: 0, bytes: 0 });
    const second = hub.snapshot(id, w);
    expect(second).not.toBe(first);
    expect(JSON.parse(second.json).data.at(-1).time).toBe(360_000);
    hub.dropSnapshot(id);
    expect(hub.snapshotCache.entries).toBe(0);
  });

  it('keeps snapshots of many series within its byte budget', () => {
    const hub = new Hub(100, 'test', { maxBytes: 20_000 });
    const w = new SeriesWindow(100);
    for (let i = 1; i <= 100; i++) w.upsert(bar(i));
    const sizes = Array.from({ length: 50 }, (_, k) => hub.snapshot(seriesId(`S${k}USDT`, '1m'), w).bytes.length);
    expect(sizes.every((s) => s > 5000)).toBe(true);
    expect(hub.snapshotCache.bytes).toBeLessThanOrEqual(20_000);
    expect(hub.snapshotCache.entries).toBe(Math.floor(20_000 / sizes[0]!));
  });
});
