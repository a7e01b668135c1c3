import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { BarStore, StoreMetrics } from './bar-store.ts';
import { HotWindows } from './hot-windows.ts';

/** Hot windows only: the store when REDIS_URL is unset. */
export function createMemoryBarStore(opts: { bufferSize: number; metrics?: StoreMetrics }): BarStore {
  const windows = new HotWindows(opts.bufferSize);
  const window = (id: SeriesId) => windows.get(id.key) ?? windows.open(id);
  return {
    kind: 'memory',
    upsert(id, bars: readonly Bar[]) {
      const w = window(id);
      if (bars.length > 1) w.reserve(w.size + bars.length);
      let n = 0;
      for (const b of bars) if (w.upsert(b) !== 'ignored') n++;
      if (n) opts.metrics?.barsWritten(n);
    },
    window,
    release: (id) => windows.delete(id),
    stats: () => windows.stats(),
    restore: async () => undefined,
    range: async (id, endTime, limit) => window(id).before(endTime, limit),
    flush: async () => undefined,
    health: () => ({ kind: 'memory', reachable: true, pendingWrites: 0 }),
    close: async () => undefined,
  };
}
