import type { Bar } from '../domain/bar.ts';
import { BarColumns, fitsCompact } from './bar-columns.ts';

/** Slots a window starts with on its first bar; it doubles from there up to its capacity. */
const FIRST_SLOTS = 8;

/**
 * The in-memory hot window of one series: up to `capacity` bars, sorted and unique by open time.
 * Reads are synchronous so a WebSocket can take a snapshot and subscribe in one turn. Upserting the
 * newest bar (the common case) is O(1); anything else is a binary search.
 *
 * Bars are kept in columns (`BarColumns`: typed arrays, 45 bytes a bar; 49 in the wide layout a
 * window switches to for good if a bar is not on whole seconds) used as a ring, so the oldest
 * bar leaves without moving the others. The columns grow (doubling) as bars arrive, so a series that
 * holds few bars never costs a whole `capacity`. Reads build Bar objects; `newest()` returns the bar
 * last written at the tip, so the per-update hot path allocates nothing.
 */
export class SeriesWindow {
  private cols: BarColumns | undefined;
  /** Slot of the oldest bar. */
  private head = 0;
  private count = 0;
  /** The newest bar as it was upserted. */
  private tip: Bar | undefined;
  private changes = 0;
  /** Open times as float64 milliseconds: a bar not on whole seconds was seen. */
  private wide = false;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`SeriesWindow: capacity must be an integer >= 1, got ${capacity}`);
  }

  upsert(bar: Bar): 'appended' | 'replaced' | 'inserted' | 'ignored' {
    if (!this.wide && !fitsCompact(bar.openTime)) {
      this.wide = true;
      if (this.cols) this.resize(this.cols.slots);
    }
    const n = this.count;
    if (n === 0 || bar.openTime > this.timeAt(n - 1)) {
      const cols = this.room();
      if (this.count === cols.slots) {
        // Full at capacity: the oldest leaves.
        this.head = this.slot(1);
        this.count--;
      }
      cols.write(this.slot(this.count), bar);
      this.count++;
      this.tip = bar;
      this.changes++;
      return 'appended';
    }
    const cols = this.cols!;
    if (bar.openTime === this.timeAt(n - 1)) {
      const s = this.slot(n - 1);
      if (cols.holds(s, bar)) return 'ignored';
      cols.write(s, bar);
      this.tip = bar;
      this.changes++;
      return 'replaced';
    }
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.timeAt(mid) < bar.openTime) lo = mid + 1;
      else hi = mid;
    }
    // lo < n - 1 here: the bar is older than the newest.
    if (this.timeAt(lo) === bar.openTime) {
      const s = this.slot(lo);
      if (cols.holds(s, bar)) return 'ignored';
      cols.write(s, bar);
      this.changes++;
      return 'replaced';
    }
    // Older than everything kept while full: it would be trimmed at once.
    if (lo === 0 && n >= this.capacity) return 'ignored';
    const c = this.room();
    if (this.count === c.slots) {
      // Full at capacity (so lo >= 1): the oldest leaves; bars 1..lo-1 move down one, the bar goes at lo-1.
      for (let i = 0; i < lo - 1; i++) c.copy(this.slot(i), c, this.slot(i + 1));
      c.write(this.slot(lo - 1), bar);
    } else {
      for (let i = this.count; i > lo; i--) c.copy(this.slot(i), c, this.slot(i - 1));
      c.write(this.slot(lo), bar);
      this.count++;
    }
    this.changes++;
    return 'inserted';
  }

  /**
   * Makes room for `n` bars in all (at most `capacity`) in one allocation: a bulk load (restore, a
   * REST page) then does not leave a trail of outgrown columns behind it.
   */
  reserve(n: number): void {
    const slots = Math.min(this.capacity, Math.ceil(n));
    if (slots <= (this.cols?.slots ?? 0)) return;
    this.resize(slots);
  }

  /** Newest `n` bars, oldest first. */
  last(n: number): Bar[] {
    return this.slice(this.count - Math.max(0, Math.min(n, this.count)), this.count);
  }

  /** Newest `limit` bars with openTime <= endTime, oldest first. */
  before(endTime: number, limit: number): Bar[] {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.timeAt(mid) <= endTime) lo = mid + 1;
      else hi = mid;
    }
    return this.slice(Math.max(0, lo - Math.max(0, limit)), lo);
  }

  newest(): Bar | undefined {
    return this.tip;
  }

  oldest(): Bar | undefined {
    return this.count ? this.cols!.read(this.slot(0)) : undefined;
  }

  newestClosed(): Bar | undefined {
    for (let i = this.count - 1; i >= 0; i--) {
      if (this.cols!.closed[this.slot(i)] !== 1) continue;
      return i === this.count - 1 ? this.tip : this.cols!.read(this.slot(i));
    }
    return undefined;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the bar columns (what this window costs beyond a fixed few hundred bytes). */
  get bytes(): number {
    return this.cols?.bytes ?? 0;
  }

  /** Increments on every change; caches of serialized snapshots key on it. */
  get version(): number {
    return this.changes;
  }

  /** Physical slot of the i-th bar, oldest first. */
  private slot(i: number): number {
    const p = this.head + i;
    const slots = this.cols!.slots;
    return p >= slots ? p - slots : p;
  }

  private timeAt(i: number): number {
    return this.cols!.time(this.slot(i));
  }

  /** Bars [from, to) as objects, oldest first. */
  private slice(from: number, to: number): Bar[] {
    const out: Bar[] = [];
    for (let i = from; i < to; i++) out.push(this.cols!.read(this.slot(i)));
    return out;
  }

  /**
   * The columns, with room for one more bar unless the window is at capacity: doubles them (at most
   * to `capacity`) when full, copying the bars oldest first to slot 0.
   */
  private room(): BarColumns {
    const cols = this.cols;
    if (cols && (this.count < cols.slots || cols.slots >= this.capacity)) return cols;
    return this.resize(Math.min(this.capacity, cols ? cols.slots * 2 : FIRST_SLOTS));
  }

  /** New columns of `slots` (>= size), the bars copied oldest first to slot 0. */
  private resize(slots: number): BarColumns {
    const next = new BarColumns(slots, this.wide);
    for (let i = 0; i < this.count; i++) next.copy(i, this.cols!, this.slot(i));
    this.cols = next;
    this.head = 0;
    return next;
  }
}
