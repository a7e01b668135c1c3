import { type Bar, sameBar } from '../domain/bar.ts';

/**
 * The in-memory hot window of one series: up to `capacity` bars, sorted and unique by open time.
 * Reads are synchronous so a WebSocket can take a snapshot and subscribe in one turn. Upserting the
 * newest bar (the common case) is O(1); anything else is a binary search.
 */
export class SeriesWindow {
  private bars: Bar[] = [];
  private changes = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new TypeError('SeriesWindow: capacity must be >= 1');
  }

  upsert(bar: Bar): 'appended' | 'replaced' | 'inserted' | 'ignored' {
    const bars = this.bars;
    const n = bars.length;
    const last = bars[n - 1];
    if (!last || bar.openTime > last.openTime) {
      bars.push(bar);
      if (bars.length > this.capacity) bars.shift();
      this.changes++;
      return 'appended';
    }
    if (bar.openTime === last.openTime) {
      if (sameBar(last, bar)) return 'ignored';
      bars[n - 1] = bar;
      this.changes++;
      return 'replaced';
    }
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bars[mid]!.openTime < bar.openTime) lo = mid + 1;
      else hi = mid;
    }
    if (bars[lo]?.openTime === bar.openTime) {
      if (sameBar(bars[lo]!, bar)) return 'ignored';
      bars[lo] = bar;
      this.changes++;
      return 'replaced';
    }
    // Older than everything kept while full: it would be trimmed at once.
    if (lo === 0 && n >= this.capacity) return 'ignored';
    bars.splice(lo, 0, bar);
    if (bars.length > this.capacity) bars.shift();
    this.changes++;
    return 'inserted';
  }

  /** Newest `n` bars, oldest first. */
  last(n: number): Bar[] {
    return this.bars.slice(Math.max(0, this.bars.length - n));
  }

  /** Newest `limit` bars with openTime <= endTime, oldest first. */
  before(endTime: number, limit: number): Bar[] {
    let lo = 0;
    let hi = this.bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bars[mid]!.openTime <= endTime) lo = mid + 1;
      else hi = mid;
    }
    return this.bars.slice(Math.max(0, lo - limit), lo);
  }

  newest(): Bar | undefined {
    return this.bars[this.bars.length - 1];
  }

  oldest(): Bar | undefined {
    return this.bars[0];
  }

  newestClosed(): Bar | undefined {
    for (let i = this.bars.length - 1; i >= 0; i--) if (this.bars[i]!.closed) return this.bars[i];
    return undefined;
  }

  get size(): number {
    return this.bars.length;
  }

  /** Increments on every change; caches of serialized snapshots key on it. */
  get version(): number {
    return this.changes;
  }
}
