import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { BarStore, StoreMetrics } from './bar-store.ts';
import { windowStats } from './window-stats.ts';
import { SeriesWindow } from './series-window.ts';

/** Hot windows only: the store when REDIS_URL is unset. */
export function createMemoryBarStore(opts: { bufferSize: number; metrics?: StoreMetrics }): BarStore {
  const windows = new Map<string, SeriesWindow>();
  const window = (id: SeriesId) => {
    let w = windows.get(id.key);
    if (!w) windows.set(id.key, (w = new SeriesWindow(opts.bufferSize)));
    return w;
  };
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
    release: (id) => void windows.delete(id.key),
    stats: () => windowStats(windows.values()),
    restore: async () => undefined,
    range: async (id, endTime, limit) => window(id).before(endTime, limit),
    flush: async () => undefined,
    health: () => ({ kind: 'memory', reachable: true, pendingWrites: 0 }),
    close: async () => undefined,
  };
}
