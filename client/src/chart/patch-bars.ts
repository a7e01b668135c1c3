import type { KLineData } from 'klinecharts';
import { lowerBound } from '../lower-bound.ts';

/**
 * Puts bars older than the newest into the chart's own list, in place: a bar of a time the list has
 * replaces it, one of a time it lacks (a hole repaired late) is inserted in order. KLineChart takes a
 * live bar only at or after its newest; this spares the chart a reload (which dropped the crosshair
 * and rebuilt the view) for a bar repaired behind it. A bar older than the list's first or not older
 * than its last is left out: the first would open a hole the chart never fills, the last is the live
 * update's. Returns how many bars went in.
 */
export function patchBars(list: KLineData[], bars: readonly KLineData[]): number {
  let n = 0;
  for (const bar of bars) {
    const first = list[0];
    const last = list[list.length - 1];
    if (!first || !last || bar.timestamp < first.timestamp || bar.timestamp >= last.timestamp) continue;
    const i = lowerBound(list, bar.timestamp, (b) => b.timestamp);
    if (list[i]!.timestamp === bar.timestamp) list[i] = bar;
    else list.splice(i, 0, bar);
    n++;
  }
  return n;
}
