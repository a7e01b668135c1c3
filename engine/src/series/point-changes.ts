// What changed in a derived series' points decides what goes out to clients: a point computed again
// with the same values is not sent twice; a corrected one is sent even when older than the newest,
// as clients upsert points by time.
import type { SeriesPoint } from './define-series.ts';
import type { PointWindow } from './point-window.ts';

/**
 * Two numbers as a client sees them: NaN, ±Infinity and null all go out as `null` (series-wire.ts), so
 * they are the same value (with `!==`, NaN differed from itself and such points were sent again after
 * every restart).
 */
const sameNumber = (a: number | null | undefined, b: number | null | undefined): boolean =>
  a === b || ((a === null || (typeof a === 'number' && !Number.isFinite(a))) && (b === null || (typeof b === 'number' && !Number.isFinite(b))));

/** Same time, closed flag and values (as sent: every non-finite number is `null`). */
export function samePoint(a: SeriesPoint, b: SeriesPoint): boolean {
  if (a.closed !== b.closed || !sameNumber(a.value, b.value)) return false;
  if (!a.values || !b.values) return a.values === b.values;
  for (const k in b.values) if (!sameNumber(a.values[k], b.values[k])) return false;
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
