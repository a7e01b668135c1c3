import { describe, expect, it } from 'vitest';
import { firstMessage } from '../../../engine/src/broadcast/first-message.ts';
import { Hub } from '../../../engine/src/broadcast/hub.ts';
import { StampedCache } from '../../../engine/src/broadcast/stamped-cache.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { PointWindow } from '../../../engine/src/series/point-window.ts';
import type { SeriesInstance, SeriesState } from '../../../engine/src/series/series-registry.ts';
import { SeriesWindow } from '../../../engine/src/store/series-window.ts';

const M = 60_000;
const id = seriesId('BTCUSDT', '1m');
const bar = (i: number, closed = true): Bar => ({ openTime: i * M, open: i, high: i, low: i, close: i, volume: 1, closed });

function rig() {
  const hub = new Hub(100, 'sim');
  const window = new SeriesWindow(100);
  for (let i = 1; i <= 5; i++) window.upsert(bar(i));
  const inst = (label: string) => {
    const w = new PointWindow(100);
    for (let i = 1; i <= 5; i++) w.upsert({ time: i * M, value: i * 10, closed: true });
    return { label, topic: `series/${label}`, window: w, state: 'live' as SeriesState } as SeriesInstance & { window: PointWindow; state: SeriesState; error?: string };
  };
  const a = inst('rsi');
  const b = inst('ema');
  const first = (resume = false) => {
    const m = firstMessage({ id, window, hub, historyOnConnect: 100, positions: undefined, resume: resume ? { epoch: 'e', since: 1 } : undefined, instances: [a, b] });
    return JSON.parse(m.toString()) as { data: Array<{ time: number; close: number }>; series: Record<string, Array<{ time: number; value: number }>>; seriesStatus?: Record<string, unknown>; recovered?: boolean };
  };
  return { hub, window, a, b, first };
}

describe('the first message with derived series, kept while nothing it is built on changes', () => {
  it('is served from the cache for identical inputs, and rebuilt when the candles, a point, an instance window or its state change', () => {
    const { hub, window, a, b, first } = rig();
    const one = first();
    expect(one.series.rsi!.map((p) => p.value)).toEqual([10, 20, 30, 40, 50]);
    expect(hub.firstMessages.size).toBe(1);
    expect(first()).toEqual(one);
    // A hit is the very buffer built before (nothing serialized again).
    const raw = () => firstMessage({ id, window, hub, historyOnConnect: 100, positions: undefined, resume: undefined, instances: [a, b] });
    expect(raw()).toBe(raw());
    // A candle changes.
    window.upsert(bar(6, false));
    expect(first().data.map((c) => c.time / M)).toEqual([1, 2, 3, 4, 5, 6]);
    // A point is corrected (older than the newest).
    a.window.upsert({ time: 2 * M, value: 21, closed: true });
    expect(first().series.rsi!.map((p) => p.value)).toEqual([10, 21, 30, 40, 50]);
    // An edge reloaded an instance: a new window at the same version as the old one, other values.
    const fresh = new PointWindow(100);
    for (let i = 1; i <= 5; i++) fresh.upsert({ time: i * M, value: i * 10 + 1, closed: true });
    expect(fresh.version).toBe(b.window.version);
    b.window = fresh;
    expect(first().series.ema!.map((p) => p.value)).toEqual([11, 21, 31, 41, 51]);
    // Failed, with its error.
    a.state = 'failed';
    a.error = 'boom';
    expect(first().seriesStatus).toEqual({ rsi: { state: 'failed', error: 'boom' } });
    // A resume that could not be served: its own entry, with "recovered": false.
    expect(first(true).recovered).toBe(false);
    expect(first().recovered).toBeUndefined();
  });
});

describe('the first message with derived series asked in another order or subset', () => {
  it('shares the message of the same series in another order, and builds another subset from the series already serialized', () => {
    const { hub, window, a, b } = rig();
    const c = { ...a, label: 'macd', topic: 'series/macd' } as SeriesInstance;
    const msg = (instances: SeriesInstance[]) => firstMessage({ id, window, hub, historyOnConnect: 100, positions: undefined, resume: undefined, instances });
    const ab = msg([a, b]);
    // Reproduced before: every order its own entry, each serialized anew (a probe shuffled 12 series per connect).
    expect(msg([b, a])).toBe(ab);
    expect(hub.firstMessages.size).toBe(1);
    // A point window read while a subset is built means its points were serialized again.
    const reads = new Map<string, number>();
    for (const inst of [a, b, c]) {
      const w = inst.window;
      const between = w.between.bind(w);
      Object.defineProperty(inst, 'window', { value: Object.assign(Object.create(w) as typeof w, { between: (f: number, t: number) => (reads.set(inst.label, (reads.get(inst.label) ?? 0) + 1), between(f, t)) }), configurable: true, writable: true });
    }
    const bc = JSON.parse(msg([c, b]).toString()) as { series: Record<string, Array<{ value: number }>> };
    expect(Object.keys(bc.series).sort()).toEqual(['ema', 'macd']);
    expect(bc.series.ema!.map((p) => p.value)).toEqual([10, 20, 30, 40, 50]);
    expect(bc.series.macd!.map((p) => p.value)).toEqual([10, 20, 30, 40, 50]);
    expect(Object.fromEntries(reads)).toEqual({ macd: 1 });
  });
});

describe('StampedCache', () => {
  it('builds once per stamp, keeps at most maxBytes (least recently used first out) and never a value bigger than that', () => {
    const cache = new StampedCache<string, string>(600);
    let builds = 0;
    const part = 'x'.repeat(100); // 200 bytes: room for 3
    const get = (k: string, stamp = 's') => cache.get(k, stamp, () => (builds++, part));
    get('a');
    get('a');
    expect(builds).toBe(1);
    get('a', 't');
    expect(builds).toBe(2);
    get('b');
    get('c');
    get('a', 't');
    get('d');
    // b was the least recently used.
    expect([cache.size, cache.bytes]).toEqual([3, 600]);
    builds = 0;
    get('b');
    expect(builds).toBe(1);
    const small = new StampedCache<string, Buffer>(10);
    expect(small.get('k', 's', () => Buffer.alloc(11)).length).toBe(11);
    expect(small.size).toBe(0);
  });

  it("a resume's derived points are every one from the oldest bar touched on, not only at the touched bars (a bar corrected late recomputes the points after it)", () => {
    const { window, hub, a } = rig();
    // Since the client's offset: bar 2 corrected late, bar 5 updated; rsi recomputed 2..5.
    const positions = { recover: () => ({ bars: [bar(2), bar(5)], position: { epoch: 'e', offset: 9 } }) } as unknown as Parameters<typeof firstMessage>[0]['positions'];
    const m = JSON.parse(firstMessage({ id, window, hub, historyOnConnect: 100, positions, resume: { epoch: 'e', since: 7 }, instances: [a] }).toString()) as { type: string; series: Record<string, Array<{ time: number }>> };
    expect(m.type).toBe('recovered');
    // And the one before: the client's last bar may lack its final point (see the next case).
    expect(m.series.rsi!.map((p) => p.time / M)).toEqual([1, 2, 3, 4, 5]);
  });

  it("a resume's derived points include the client's last bar's, touched or not (before: none when no bar was touched since, so an edge lost between a bar's final update and its point left that point stale for good)", () => {
    const { window, hub, a } = rig();
    const resume = (bars: Bar[]) => {
      const positions = { recover: () => ({ bars, position: { epoch: 'e', offset: 9 } }) } as unknown as Parameters<typeof firstMessage>[0]['positions'];
      return JSON.parse(firstMessage({ id, window, hub, historyOnConnect: 100, positions, resume: { epoch: 'e', since: 9 }, instances: [a] }).toString()) as { type: string; series: Record<string, Array<{ time: number; value: number }>> };
    };
    // The client had bar 5's final update (offset 9), not its point; nothing touched since.
    a.window.upsert({ time: 5 * M, value: 55, closed: true });
    expect(resume([]).series.rsi!.map((p) => [p.time / M, p.value])).toEqual([[5, 55]]);
    // Bar 6 began since: bar 5's point too.
    window.upsert(bar(6, false));
    a.window.upsert({ time: 6 * M, value: 60, closed: false });
    expect(resume([bar(6, false)]).series.rsi!.map((p) => p.time / M)).toEqual([5, 6]);
  });

  it("a resume's recovered message carries the failed series' seriesStatus, as historical does (reproduced: it had none)", () => {
    const { window, hub, a, b } = rig();
    const positions = { recover: () => ({ bars: [bar(5)], position: { epoch: 'e', offset: 9 } }) } as unknown as Parameters<typeof firstMessage>[0]['positions'];
    const resume = () => JSON.parse(firstMessage({ id, window, hub, historyOnConnect: 100, positions, resume: { epoch: 'e', since: 8 }, instances: [a, b] }).toString()) as { type: string; seriesStatus?: Record<string, unknown> };
    expect(resume().seriesStatus).toBeUndefined();
    a.state = 'failed';
    a.error = 'dead since t+20s';
    const m = resume();
    expect(m.type).toBe('recovered');
    expect(m.seriesStatus).toEqual({ rsi: { state: 'failed', error: 'dead since t+20s' } });
  });
});
