import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { SeriesWindow } from './series-window.ts';

export interface StoreHealth {
  kind: 'memory' | 'redis';
  reachable: boolean;
  /** Connected, but a command went unanswered (a stopped or overloaded server): reads come from memory. */
  hung?: boolean;
  pendingWrites: number;
  lastError?: string;
}

/** What the hot windows hold now (for /metrics: bars and bytes per series). */
export interface StoreStats {
  /** Series with a hot window. */
  series: number;
  /** Bars in all hot windows. */
  bars: number;
  /** Bytes of the bar columns of all hot windows (allocated, so at least 45 per bar). */
  bytes: number;
}

/** Hooks the engine wires to /metrics. */
export interface StoreMetrics {
  barsWritten(n: number): void;
  writeErrors(n: number): void;
}

/**
 * The one store interface. Every series has a synchronous in-memory hot window; a persistent
 * implementation writes behind it.
 */
export interface BarStore {
  readonly kind: 'memory' | 'redis';
  /** Synchronous into the hot window; persisted asynchronously (pipelined, batched per tick). */
  upsert(id: SeriesId, bars: readonly Bar[]): void;
  /** The hot window of a series (created empty on first use). */
  window(id: SeriesId): SeriesWindow;
  /**
   * Drops the hot window of a series (an on-demand series nobody watches any more) so its memory is
   * freed; a later `window(id)` starts empty. Persisted bars and writes still pending stay.
   */
  release(id: SeriesId): void;
  /** What the hot windows hold now. O(series). */
  stats(): StoreStats;
  /** Loads what is persisted into the hot window; returns the newest stored bar. One round trip. */
  restore(id: SeriesId): Promise<Bar | undefined>;
  /** Newest `limit` bars with openTime <= endTime: from memory when it covers them, else one round trip. */
  range(id: SeriesId, endTime: number, limit: number): Promise<Bar[]>;
  /** Resolves when every write issued so far is persisted (or queued while the store is unreachable). */
  flush(): Promise<void>;
  health(): StoreHealth;
  close(): Promise<void>;
}
