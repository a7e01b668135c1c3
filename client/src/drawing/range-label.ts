import type { Period } from 'klinecharts';
import { barsBetween } from './bars-between.ts';

const ms = (d: number) => {
  const m = Math.round(Math.abs(d) / 60_000);
  if (m < 60) return `${m}m`;
  if (m < 1440) return `${Math.floor(m / 60)}h ${m % 60}m`;
  return `${Math.floor(m / 1440)}d ${Math.floor((m % 1440) / 60)}h`;
};

interface RangePoint {
  value?: number;
  timestamp?: number;
}

/**
 * The price-range measure's label: change, %, bars and time between two points. Bars come from the
 * points' times and the interval shown (see barsBetween), so a saved or re-intervalled drawing counts right.
 */
export function rangeLabel(p: RangePoint, q: RangePoint, precision: number, period: Period | null): string | undefined {
  if (p.value === undefined || q.value === undefined) return undefined;
  const diff = q.value - p.value;
  const pct = p.value !== 0 ? (diff / p.value) * 100 : 0;
  const timed = p.timestamp !== undefined && q.timestamp !== undefined;
  const bars = timed && period ? barsBetween(p.timestamp!, q.timestamp!, period) : 0;
  const time = timed ? ms(q.timestamp! - p.timestamp!) : '';
  const sign = diff >= 0 ? '+' : '';
  return `${sign}${diff.toFixed(precision)} (${sign}${pct.toFixed(2)}%) · ${bars} bar${bars === 1 ? '' : 's'} · ${time}`;
}
