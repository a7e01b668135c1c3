import type { Bar } from '../src/domain/bar.ts';
import { closeTime } from '../src/domain/interval.ts';
import { type Candle, symbolSpec } from './price-model.ts';

/** Binance's wire shapes for a simulated candle: numbers at 0, 6, 8; decimal strings elsewhere. */
export function priceString(symbol: string, ticks: number): string {
  const { tick, decimals } = symbolSpec(symbol);
  return (ticks * tick).toFixed(decimals);
}

const vol = (v: number) => v.toFixed(8);

export function klineRow(symbol: string, interval: string, c: Candle, tzOffsetMs: number): unknown[] {
  const close = priceString(symbol, c.c);
  const quote = (c.v * Number(close)).toFixed(8);
  return [
    c.openTime,
    priceString(symbol, c.o),
    priceString(symbol, c.h),
    priceString(symbol, c.l),
    close,
    vol(c.v),
    closeTime(c.openTime, interval, tzOffsetMs),
    quote,
    c.trades,
    vol(Math.floor(c.v / 2)),
    (Math.floor(c.v / 2) * Number(close)).toFixed(8),
    '0',
  ];
}

export function klineEvent(symbol: string, interval: string, c: Candle, closed: boolean, eventTime: number): Record<string, unknown> {
  const close = priceString(symbol, c.c);
  return {
    e: 'kline',
    E: eventTime,
    s: symbol,
    k: {
      t: c.openTime,
      T: closeTime(c.openTime, interval),
      s: symbol,
      i: interval,
      f: c.trades ? c.openTime : -1,
      L: c.trades ? c.openTime + c.trades - 1 : -1,
      o: priceString(symbol, c.o),
      c: close,
      h: priceString(symbol, c.h),
      l: priceString(symbol, c.l),
      v: vol(c.v),
      n: c.trades,
      x: closed,
      q: (c.v * Number(close)).toFixed(8),
      V: vol(Math.floor(c.v / 2)),
      Q: (Math.floor(c.v / 2) * Number(close)).toFixed(8),
      B: '0',
    },
  };
}

/** A candle as the engine's domain bar (what a client parses from the strings). */
export function toBar(symbol: string, c: Candle, closed: boolean): Bar {
  return {
    openTime: c.openTime,
    open: Number(priceString(symbol, c.o)),
    high: Number(priceString(symbol, c.h)),
    low: Number(priceString(symbol, c.l)),
    close: Number(priceString(symbol, c.c)),
    volume: Number(vol(c.v)),
    closed,
  };
}
