import type { SeriesPoint } from './define-series.ts';

let serials = 0;

/** The newest points of one series instance, unique and sorted by time, capped. Upsert is O(1) at the end. */
export class PointWindow {
  private readonly points: SeriesPoint[] = [];
  version = 0;
  /** Unique per window (an edge replaces an instance's window when it reloads): with `version`, what a cache stamps. */
  readonly serial = ++serials;
  constructor(private readonly capacity: number) {}

  /**
   * Returns 'older' when the point is older than the newest kept (a replayed warm-up value, a
   * correction): it replaces the point of its time, or, when the window lacks one (its bar was a hole
   * repaired late), goes in in order, unless the window is full and it is older than all it keeps.
   */
  upsert(p: SeriesPoint): 'appended' | 'replaced' | 'older' {
    const last = this.points[this.points.length - 1];
    if (last && p.time < last.time) {
      const i = this.indexOf(p.time);
      if (i >= 0) {
        this.points[i] = p;
        this.version++;
      } else if (this.size < this.capacity || p.time > this.points[this.start]!.time) {
        let lo = this.start;
        let hi = this.points.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (this.points[mid]!.time < p.time) lo = mid + 1;
          else hi = mid;
        }
        // At the cap the oldest kept leaves the window (start moves up one).
        this.points.splice(lo, 0, p);
        this.version++;
        if (this.points.length >= 2 * this.capacity) this.points.splice(0, this.points.length - this.capacity);
      }
      return 'older';
    }
    this.version++;
    if (last && p.time === last.time) {
      this.points[this.points.length - 1] = p;
      return 'replaced';
    }
    this.points.push(p);
    // Drop the oldest in chunks: a splice per point would move the whole window on every bar.
    if (this.points.length >= 2 * this.capacity) this.points.splice(0, this.points.length - this.capacity);
    return 'appended';
  }

  /** Points with time in [from, to], oldest first. */
  between(from: number, to: number): SeriesPoint[] {
    const lo = this.firstFrom(from, false);
    const out: SeriesPoint[] = [];
    for (let i = lo; i < this.points.length && this.points[i]!.time <= to; i++) out.push(this.points[i]!);
    return out;
  }

  /** The newest point kept at or before `time`, if any. */
  atOrBefore(time: number): SeriesPoint | undefined {
    const i = this.firstFrom(time, true);
    return i > this.start ? this.points[i - 1] : undefined;
  }

  /** The point kept at `time`, if any. */
  at(time: number): SeriesPoint | undefined {
    const i = this.indexOf(time);
    return i >= 0 ? this.points[i] : undefined;
  }

  /** The newest point kept (no copy: this runs once per point). */
  newest(): SeriesPoint | undefined {
    return this.points[this.points.length - 1];
  }

  last(n: number): SeriesPoint[] {
    return this.points.slice(Math.max(this.start, this.points.length - n));
  }

  get size(): number {
    return this.points.length - this.start;
  }

  /** Index of the oldest point kept (those before it wait for the next chunked trim). */
  private get start(): number {
    return Math.max(0, this.points.length - this.capacity);
  }

  private indexOf(time: number): number {
    const i = this.firstFrom(time, false);
    return i < this.points.length && this.points[i]!.time === time ? i : -1;
  }

  /** Index of the first kept point after `time` (`after`) or at or after it; the length when none is. */
  private firstFrom(time: number, after: boolean): number {
    let lo = this.start;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const t = this.points[mid]!.time;
      if (t < time || (after && t === time)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
