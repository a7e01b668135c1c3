import type { Period } from 'klinecharts';

const UNIT_MS: Partial<Record<Period['type'], number>> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };

/**
 * Bars of `period` between two times (the open times of the bars the points sit on). From the times,
 * not KLineChart's `dataIndex`: that is not saved with a drawing (0 bars after a reload), not redone
 * on an interval switch (15 bars on 1h for 75 minutes) and shifts as older pages are prepended.
 */
export function barsBetween(a: number, b: number, period: Period): number {
  const [from, to] = a <= b ? [a, b] : [b, a];
  if (period.type === 'month' || period.type === 'year') {
    const f = new Date(from);
    const t = new Date(to);
    const months = (t.getUTCFullYear() - f.getUTCFullYear()) * 12 + t.getUTCMonth() - f.getUTCMonth();
    return Math.floor(months / (period.type === 'year' ? 12 * period.span : period.span));
  }
  const len = UNIT_MS[period.type]! * period.span;
  // Weeks open on Mondays, 4 days after the epoch (a Thursday).
  const offset = period.type === 'week' ? 4 * 86_400_000 : 0;
  // Whole bars: a point may sit anywhere inside its bar.
  return Math.floor((to - offset) / len) - Math.floor((from - offset) / len);
}
