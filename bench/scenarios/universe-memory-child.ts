/**
 * Child of the `store` scenario: fills a memory store with `series` × `bars` bars in a fresh process
 * and reports process.memoryUsage() after a full GC before and after. `layout: 'objects'` fills the
 * window the engine had before issue 12 (one Bar object per bar, an array per series) for comparison.
 */
import type { Bar } from '../../engine/src/domain/bar.ts';
import { seriesId } from '../../engine/src/domain/series-id.ts';
import { createMemoryBarStore } from '../../engine/src/store/memory-bar-store.ts';
import { childConfig, emit, serve } from '../lib/ipc.ts';

export interface StoreMemoryConfig {
  series: number;
  bars: number;
  layout: 'columns' | 'objects';
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  external: number;
}

const cfg = childConfig<StoreMemoryConfig>();
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const sample = (): MemorySample => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external };
};

// Prices as the parser makes them (decimals, not small integers: a double in an object is a boxed number).
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const barsOf = (n: number): Bar[] => {
  const out: Bar[] = [];
  let p = 100 + rnd() * 1000;
  for (let i = 0; i < n; i++) {
    const open = Math.round(p * 1e4) / 1e4;
    p *= 1 + (rnd() - 0.5) / 100;
    const close = Math.round(p * 1e4) / 1e4;
    out.push({ openTime: 1_700_000_000_000 + i * 60_000, open, high: Math.max(open, close) * 1.001, low: Math.min(open, close) * 0.999, close, volume: Math.round(rnd() * 1e8) / 1e4, closed: i < n - 1 });
  }
  return out;
};
const symbol = (s: number) => `S${s}USDT`;

function fill(): { held: unknown; bars: number } {
  if (cfg.layout === 'objects') {
    const held = new Map<string, Bar[]>();
    let bars = 0;
    for (let s = 0; s < cfg.series; s++) {
      const arr: Bar[] = [];
      for (const b of barsOf(cfg.bars)) arr.push(b);
      held.set(seriesId(symbol(s), '1m').key, arr);
      bars += arr.length;
    }
    return { held, bars };
  }
  const store = createMemoryBarStore({ bufferSize: cfg.bars });
  for (let s = 0; s < cfg.series; s++) {
    const id = seriesId(symbol(s), '1m');
    // One bar per upsert, as the live pipeline writes them.
    for (const b of barsOf(cfg.bars)) store.upsert(id, [b]);
  }
  return { held: store, bars: store.stats().bars };
}

// Warm-up: the code paths compiled and the lazy allocations done before the base is taken.
{
  const store = createMemoryBarStore({ bufferSize: cfg.bars });
  for (let s = 0; s < 20; s++) for (const b of barsOf(cfg.bars)) store.upsert(seriesId(symbol(s), '1m'), [b]);
}

const before = sample();
const started = performance.now();
const { held, bars } = fill();
const fillMs = performance.now() - started;
const after = sample();
const keep = [held]; // the store must be alive when `after` is taken

serve({}, () => void keep.pop());
emit('ready', { before, after, bars, fillMs });
