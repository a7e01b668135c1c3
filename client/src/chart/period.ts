import type { Period } from 'klinecharts';

const TYPES: Record<string, Period['type']> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', M: 'month' };

/**
 * Suffixes KLineChart puts after a period's span in the chart's title (its `en-US` locale): the
 * engine's own units, so the title reads `BTCUSDT · 1m` as the toolbar does (KLineChart's own gave
 * `1` for a minute and `4H` for four hours). Registered once by the chart (registerLocale).
 */
export const PERIOD_SUFFIXES: Record<Period['type'], string> = { second: 's', minute: 'm', hour: 'h', day: 'd', week: 'w', month: 'M', year: 'y' };

/** An engine interval (`15m`, `4h`, `1M`, custom `45m`) as a KLineChart period. */
export function toPeriod(interval: string): Period {
  const m = /^(\d+)([smhdwM])$/.exec(interval);
  if (!m) return { type: 'minute', span: 1 };
  return { type: TYPES[m[2]!]!, span: Number(m[1]) };
}

/** Most decimals a price is shown with (a price below 1e-8 shows its first digits). */
const MAX_PRICE_DECIMALS = 12;
/** The exchange's finest tick is 1e-8: more decimals than that are zeros it never quotes. */
const TICK_DECIMALS = 8;

/**
 * Decimals that show a price at its tick (from the magnitude of a recent close). Below 1, five
 * significant digits, up to the exchange's 8 decimals (a price too small to show two digits in 8
 * gets more): with a fixed 6, PEPE at 0.00001234 read 0.000012 and a BTC-quoted pair near 5e-7 read
 * 0.000000, and the chart's axis squashed their candles flat (a client review); with at least 6, XRP
 * read 0.486460 where the exchange quotes 0.48646 (another).
 */
export function pricePrecision(price: number): number {
  if (price >= 100) return 2;
  if (price >= 1) return 4;
  if (!(price > 0)) return 6;
  const significant = 4 - Math.floor(Math.log10(price));
  return price >= 1e-7 ? Math.min(TICK_DECIMALS, significant) : Math.min(MAX_PRICE_DECIMALS, significant);
}
