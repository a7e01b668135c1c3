import type { Period } from 'klinecharts';

const TYPES: Record<string, Period['type']> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', M: 'month' };

/** An engine interval (`15m`, `4h`, `1M`, custom `45m`) as a KLineChart period. */
export function toPeriod(interval: string): Period {
  const m = /^(\d+)([smhdwM])$/.exec(interval);
  if (!m) return { type: 'minute', span: 1 };
  return { type: TYPES[m[2]!]!, span: Number(m[1]) };
}

/** Decimals that show a price at its tick (from the magnitude of a recent close). */
export function pricePrecision(price: number): number {
  if (price >= 100) return 2;
  if (price >= 1) return 4;
  return 6;
}
