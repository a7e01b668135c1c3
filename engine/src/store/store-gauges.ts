import type { Metrics } from '../metrics.ts';
import type { BarStore } from './bar-store.ts';

/**
 * Memory gauges read at every scrape: bars and column bytes of the hot windows (bytes / series is the
 * memory per series), and the serialized snapshots cached for connecting clients.
 */
export function storeGauges(metrics: Metrics, store: BarStore, snapshots: () => { entries: number; bytes: number }): void {
  const series = metrics.gauge('engine_store_series', 'Series with a hot window in memory');
  const bars = metrics.gauge('engine_store_bars', 'Bars in the hot windows');
  const bytes = metrics.gauge('engine_store_bytes', 'Bytes of the hot windows\' bar columns (45 per bar slot, 49 if open times are not whole seconds; grown on demand)');
  const snapEntries = metrics.gauge('engine_snapshot_cache_entries', 'Serialized historical snapshots cached (series being connected to)');
  const snapBytes = metrics.gauge('engine_snapshot_cache_bytes', 'Bytes of the cached historical snapshots (bounded)');
  metrics.onCollect(() => {
    const s = store.stats();
    series(s.series);
    bars(s.bars);
    bytes(s.bytes);
    const c = snapshots();
    snapEntries(c.entries);
    snapBytes(c.bytes);
  });
}
