import type { SeriesId } from '../domain/series-id.ts';
import type { StoreStats } from './bar-store.ts';
import { SeriesWindow } from './series-window.ts';
import { windowStats } from './window-stats.ts';

/** A store's hot windows by series key, each with the id it was made for (both stores keep theirs here). */
export class HotWindows {
  private readonly windows = new Map<string, { id: SeriesId; window: SeriesWindow }>();

  constructor(private readonly bufferSize: number) {}

  get(key: string): SeriesWindow | undefined {
    return this.windows.get(key)?.window;
  }

  has(key: string): boolean {
    return this.windows.has(key);
  }

  /** The id of the series whose window `key` is. */
  id(key: string): SeriesId | undefined {
    return this.windows.get(key)?.id;
  }

  /** A new, empty window for `id` (replacing none: see `get`). */
  open(id: SeriesId): SeriesWindow {
    const window = new SeriesWindow(this.bufferSize);
    this.windows.set(id.key, { id, window });
    return window;
  }

  delete(id: SeriesId): void {
    this.windows.delete(id.key);
  }

  /** Every window with its series' id. */
  values(): Iterable<{ id: SeriesId; window: SeriesWindow }> {
    return this.windows.values();
  }

  stats(): StoreStats {
    return windowStats(Array.from(this.windows.values(), (e) => e.window));
  }
}
