import type { SeriesId } from '../domain/series-id.ts';
import type { StoreStats } from './bar-store.ts';
import { SeriesWindow } from './series-window.ts';
import { windowStats } from './window-stats.ts';

/** A store's hot windows by series key, each with the id it was made for. */
export class HotWindows {
  private readonly windows = new Map<string, SeriesWindow>();
  private readonly idOf = new Map<string, SeriesId>();

  constructor(private readonly bufferSize: number) {}

  get(key: string): SeriesWindow | undefined {
    return this.windows.get(key);
  }

  has(key: string): boolean {
    return this.windows.has(key);
  }

  /** The id of the series whose window `key` is. */
  id(key: string): SeriesId | undefined {
    return this.idOf.get(key);
  }

  /** A new, empty window for `id` (replacing none: see `get`). */
  open(id: SeriesId): SeriesWindow {
    const w = new SeriesWindow(this.bufferSize);
    this.windows.set(id.key, w);
    this.idOf.set(id.key, id);
    return w;
  }

  delete(id: SeriesId): void {
    this.windows.delete(id.key);
    this.idOf.delete(id.key);
  }

  entries(): Iterable<[string, SeriesWindow]> {
    return this.windows.entries();
  }

  stats(): StoreStats {
    return windowStats(this.windows.values());
  }
}
