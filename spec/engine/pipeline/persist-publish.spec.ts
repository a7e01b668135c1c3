import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger, silentLogger } from '../../../engine/src/log.ts';
import { GapFillError } from '../../../engine/src/domain/errors.ts';
import { Metrics } from '../../../engine/src/metrics.ts';
import { pipelineMetrics } from '../../../engine/src/pipeline/engine-metrics.ts';
import { persistAndPublish } from '../../../engine/src/pipeline/persist-publish.ts';
import { createMemoryBarStore } from '../../../engine/src/store/memory-bar-store.ts';

const M = 60_000;
const id = seriesId('BTCUSDT', '1m');
const bar = (t: number, close = t, closed = true): Bar => ({ openTime: t * M, open: 1, high: 9, low: 1, close, volume: 1, closed });

function rig(bufferSize = 100) {
  const store = createMemoryBarStore({ bufferSize });
  const published: Bar[] = [];
  const computed: Bar[] = [];
  const repaired: Bar[] = [];
  const metrics = new Metrics();
  const sink = persistAndPublish({
    store,
    publishBar: (_id, b) => published.push(b),
    barsOut: (_id, b) => computed.push(b),
    repairsOut: (_id, b) => repaired.push(b),
    metrics: pipelineMetrics(metrics),
    log: silentLogger,
  });
  return { store, published, computed, repaired, sink, filled: () => metrics.value('engine_gap_bars_filled_total') };
}

describe('persistAndPublish', () => {
  it('stores each bar before it is published, and publishes a repeat of the newest once', () => {
    const { store, published, computed, sink } = rig();
    const seen: number[] = [];
    const ordered = persistAndPublish({
      store,
      publishBar: (_id, b) => seen.push(store.window(id).newest()?.openTime === b.openTime ? 1 : 0),
      barsOut: () => {},
      metrics: pipelineMetrics(new Metrics()),
      log: silentLogger,
    });
    ordered(id, { type: 'bar', bar: bar(1, 1, false), origin: 'live' });
    expect(seen).toEqual([1]);
    sink(id, { type: 'bar', bar: bar(2, 2, false), origin: 'live' });
    sink(id, { type: 'bar', bar: bar(2, 2, false), origin: 'live' });
    expect(published).toEqual([bar(2, 2, false)]);
    expect(computed).toEqual([bar(2, 2, false)]);
  });

  it('publishes a hole repaired late to the clients (a chart open all day, the cluster leader), but not to what follows bars in order', () => {
    const { store, published, computed, sink } = rig();
    for (const t of [1, 2, 5]) sink(id, { type: 'bar', bar: bar(t), origin: 'live' });
    sink(id, { type: 'bar', bar: bar(3), origin: 'repair' });
    sink(id, { type: 'bar', bar: bar(4), origin: 'repair' });
    expect(published.map((b) => b.openTime / M)).toEqual([1, 2, 5, 3, 4]);
    expect(computed.map((b) => b.openTime / M)).toEqual([1, 2, 5]);
    expect(store.window(id).last(10).map((b) => b.openTime / M)).toEqual([1, 2, 3, 4, 5]);
    // A repair's range holds bars already kept: only what it changes goes out again.
    sink(id, { type: 'bar', bar: bar(2), origin: 'repair' });
    sink(id, { type: 'bar', bar: bar(3, 3.5), origin: 'repair' });
    expect(published.slice(5)).toEqual([bar(3, 3.5)]);
  });

  it('sends nothing of a repaired bar older than all a full window keeps (it is not kept: a client, or Redis, would get a hole after it)', () => {
    const { published, repaired, sink } = rig(5);
    for (const t of [10, 11, 12, 13, 14]) sink(id, { type: 'bar', bar: bar(t), origin: 'live' });
    sink(id, { type: 'bar', bar: bar(3), origin: 'repair' });
    expect(published.map((b) => b.openTime / M)).toEqual([10, 11, 12, 13, 14]);
    expect(repaired).toEqual([]);
  });

  it("counts repaired bars as filled from REST, not a custom interval's rebuilt buckets; both go out as late bars", () => {
    const { published, computed, repaired, sink, filled } = rig();
    for (const t of [1, 3]) sink(id, { type: 'bar', bar: bar(t), origin: 'live' });
    sink(id, { type: 'bar', bar: bar(2), origin: 'repair' });
    sink(id, { type: 'bar', bar: bar(1, 1.5), origin: 'rebuild' });
    expect(filled()).toBe(1);
    expect(published.map((b) => b.openTime / M)).toEqual([1, 3, 2, 1]);
    expect(repaired.map((b) => b.openTime / M)).toEqual([2, 1]);
    expect(computed.map((b) => b.openTime / M)).toEqual([1, 3]);
  });

  it('logs a mass re-sync in one line per kind, then the count (was one line per series: 150 every 75 s)', () => {
    const lines: string[] = [];
    const sink = persistAndPublish({ store: createMemoryBarStore({ bufferSize: 10 }), publishBar: () => {}, barsOut: () => {}, metrics: pipelineMetrics(new Metrics()), log: createLogger('info', 't', (l) => lines.push(l)) });
    for (let i = 0; i < 150; i++) {
      const s = seriesId(`S${i}USDT`, '1m');
      sink(s, { type: 'gap-filled', from: 0, to: M, bars: 2 });
      sink(s, { type: 'gap-unfilled', error: new GapFillError('REST down', { info: { key: s.key, from: 0, to: M, attempt: 1 } }) });
    }
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/gap filled.*S0USDT/);
    expect(lines[1]).toMatch(/gap not filled, will retry.*S0USDT/);
    sink.flush();
    expect(lines.slice(2).join('\n')).toMatch(/gap filled \(repeated 149 more times\).*S149USDT/);
    expect(lines.slice(2).join('\n')).toMatch(/gap not filled, will retry \(repeated 149 more times\)/);
  });
});
