import { nextOpen } from './feed/exchange-clock.ts';
import { lowerBound } from './lower-bound.ts';

const DAY_MS = 86_400_000;

/** The header's change: its percentage and the span it covers (ms; a day when the window reaches a day back). */
export interface WindowChange {
  pct: number;
  spanMs: number;
}

/**
 * Change of the latest close over the last 24 h: from the close of the bar covering 24 h before the
 * latest bar opened (open ≤ then < its close; the last one before it across a gap). A window that
 * does not reach that far (720 bars of 1m are 12 h) gives the change from its first open and the
 * span it does cover, so the header can say so: it read as a 24 h change before (a review), and
 * from a bar's open on 1d it reached 48 h back.
 */
export function windowChange(list: ReadonlyArray<{ time: number; open: number; close: number }>, interval: string): WindowChange | undefined {
  const last = list.at(-1);
  if (!last) return undefined;
  const dayAgo = last.time - DAY_MS;
  // A binary search: this runs on every update, over up to 5,000 bars.
  const covering = lowerBound(list, dayAgo + 1, (c) => c.time) - 1;
  const ref = covering >= 0 ? list[covering]!.close : list[0]!.open;
  const spanMs = covering >= 0 ? DAY_MS : nextOpen(last.time, interval) - list[0]!.time;
  return { pct: ref ? ((last.close - ref) / ref) * 100 : 0, spanMs };
}

/** A span short of a day, as the header labels it (`12h`, `45m`, `2h 30m`). */
export function spanLabel(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m}m`;
  return m % 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m / 60}h`;
}
