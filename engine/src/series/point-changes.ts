// What changed in a derived series' points decides what goes out to clients: a point computed again
// with the same values is not sent twice; a corrected one is sent even when older than the newest,
// as clients upsert points by time.
import type { SeriesPoint } from './define-series.ts';
import type { PointWindow } from './point-window.ts';

/** Same time, closed flag and values. */
export function samePoint(a: SeriesPoint, b: SeriesPoint): boolean {
  if (a.closed !== b.closed || a.value !== b.value) return false;
  if (!a.values || !b.values) return a.values === b.values;
  for (const k in b.values) if (a.values[k] !== b.values[k]) return false;
  return true;
}

/** The window holds `p` already, with the same values (the newest is looked at first: this runs once per point). */
export function keptSame(window: PointWindow, p: SeriesPoint): boolean {
  const last = window.newest();
  if (last === undefined || p.time > last.time) return false;
  const kept = p.time === last.time ? last : window.at(p.time);
  return kept !== undefined && samePoint(kept, p);
}

/**
 * Points of `window` that differ from `before` (other values, or absent from it: older ones too, as
 * when a first warm-up lacked its older bars and a later run had them): what a client that had
 * `before` lacks.
 */
export function changedSince(before: ReadonlyMap<number, SeriesPoint>, window: PointWindow): SeriesPoint[] {
  return window.between(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY).filter((p) => {
    const b = before.get(p.time);
    return b === undefined || !samePoint(b, p);
  });
}
