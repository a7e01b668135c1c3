import { fileURLToPath } from 'node:url';
import { Child } from '../lib/ipc.ts';
import { median, sig } from '../lib/stats.ts';
import type { BenchEnv, Row, ScenarioOutput } from './context.ts';
import type { MemorySample, StoreMemoryConfig } from './universe-memory-child.ts';

const CHILD = fileURLToPath(new URL('./universe-memory-child.ts', import.meta.url));

export interface StoreMemoryRun {
  layout: StoreMemoryConfig['layout'];
  series: number;
  bars: number;
  fillMs: number;
  before: MemorySample;
  after: MemorySample;
  /** (heapUsed + arrayBuffers) after − before, per bar: what the bars cost the process beyond its base. */
  bytesPerBar: number;
  rssPerBar: number;
}

async function measure(cfg: StoreMemoryConfig): Promise<StoreMemoryRun> {
  const child = Child.fork(`store-${cfg.layout}`, CHILD, { config: cfg, nodeArgs: ['--expose-gc'], readyTimeoutMs: 300_000 });
  try {
    const r = (await child.ready) as unknown as { before: MemorySample; after: MemorySample; bars: number; fillMs: number };
    const held = (m: MemorySample) => m.heapUsed + m.arrayBuffers;
    return { layout: cfg.layout, series: cfg.series, bars: r.bars, fillMs: r.fillMs, before: r.before, after: r.after, bytesPerBar: (held(r.after) - held(r.before)) / r.bars, rssPerBar: (r.after.rss - r.before.rss) / r.bars };
  } finally {
    await child.stop(10_000);
  }
}

/**
 * Issue 12: memory per stored bar, in a fresh process: a memory store filled with N series × 1,000
 * bars one upsert at a time (as the live pipeline writes them), after a full GC, minus the same
 * process before the fill. The window before issue 12 (a Bar object per bar) is measured in the same
 * run for comparison, on fewer series (it needs about four times the memory).
 */
export async function storeMemory(env: BenchEnv): Promise<ScenarioOutput> {
  const series = env.opts.quick ? 1000 : 9000;
  const bars = 1000;
  const columns: StoreMemoryRun[] = [];
  const objects: StoreMemoryRun[] = [];
  for (let r = 0; r < env.opts.repeats; r++) {
    const c = await measure({ series, bars, layout: 'columns' });
    env.log(`  columnar window: ${series} series × ${bars} bars: ${c.bytesPerBar.toFixed(1)} B/bar heap+buffers, ${c.rssPerBar.toFixed(1)} B/bar RSS (filled in ${(c.fillMs / 1000).toFixed(1)} s)`);
    columns.push(c);
    const o = await measure({ series: Math.min(series, 1000), bars, layout: 'objects' });
    env.log(`  object per bar:  ${o.series} series × ${bars} bars: ${o.bytesPerBar.toFixed(1)} B/bar heap+buffers, ${o.rssPerBar.toFixed(1)} B/bar RSS`);
    objects.push(o);
  }
  const m = (runs: StoreMemoryRun[], f: (r: StoreMemoryRun) => number) => ({ engine: sig(median(runs.map(f))) });
  const label = `${series.toLocaleString('en-US')} series × ${bars.toLocaleString('en-US')} bars`;
  const rows: Row[] = [
    { scenario: 'store', metric: `${label}: JS heap + array buffers per stored bar (columnar window)`, unit: 'B', better: 'lower', values: m(columns, (r) => r.bytesPerBar), target: { engineMax: 64, label: '≤ 64 B/bar' } },
    { scenario: 'store', metric: `${label}: RSS per stored bar (columnar window)`, unit: 'B', better: 'lower', values: m(columns, (r) => r.rssPerBar), target: { engineMax: 64, label: '≤ 64 B/bar' } },
    { scenario: 'store', metric: `${Math.min(series, 1000).toLocaleString('en-US')} series: JS heap per stored bar, one object per bar (the window before issue 12)`, unit: 'B', better: 'lower', values: m(objects, (r) => r.bytesPerBar), note: 'for comparison' },
    { scenario: 'store', metric: `${Math.min(series, 1000).toLocaleString('en-US')} series: RSS per stored bar, one object per bar (the window before issue 12)`, unit: 'B', better: 'lower', values: m(objects, (r) => r.rssPerBar), note: 'for comparison' },
  ];
  return { rows, data: { columns, objects } };
}
