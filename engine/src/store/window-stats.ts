import type { StoreStats } from './bar-store.ts';
import type { SeriesWindow } from './series-window.ts';

/** Series, bars and column bytes over a store's hot windows. */
export function windowStats(windows: Iterable<SeriesWindow>): StoreStats {
  let series = 0;
  let bars = 0;
  let bytes = 0;
  for (const w of windows) {
    series++;
    bars += w.size;
    bytes += w.bytes;
  }
  return { series, bars, bytes };
}
