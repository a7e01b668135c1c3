import type { Bar } from '../src/domain/bar.ts';
import { closeTime } from '../src/domain/interval.ts';
import type { Candle } from './price-model.ts';
import { symbolSpec } from './symbol-spec.ts';

/** Binance's wire shapes for a simulated candle: numbers at 0, 6, 8; decimal strings elsewhere. */

/**
 * An integer count of 10^-decimals units as a decimal string with `places` decimals (exact: the
 * digits of the integer are moved, no float division). Integers below 2^53 print exactly.
 */
function fixed(units: number, decimals: number, places = decimals): string {
  const s = (Number.isSafeInteger(units) ? String(units) : BigInt(units).toString()).padStart(decimals + 1, '0');
  const frac = s.slice(s.length - decimals).padEnd(places, '0');
  return places > 0 ? `${s.slice(0, s.length - decimals)}.${frac}` : s.slice(0, s.length - decimals);
}

export function priceString(symbol: string, ticks: number): string {
  return fixed(ticks, symbolSpec(symbol).decimals);
}

const VOLUME_PLACES = 8;
const volume = (v: number) => fixed(v, 0, VOLUME_PLACES);
/** Quote volume from (volume unit x tick) units, exact. */
const quote = (symbol: string, units: number) => fixed(units, symbolSpec(symbol).decimals, VOLUME_PLACES);

export function klineRow(symbol: string, interval: string, c: Candle, tzOffsetMs: number): unknown[] {
  return [
    c.openTime,
    priceString(symbol, c.o),
    priceString(symbol, c.h),
    priceString(symbol, c.l),
    priceString(symbol, c.c),
    volume(c.v),
    closeTime(c.openTime, interval, tzOffsetMs),
    quote(symbol, c.q),
    c.trades,
    volume(c.tv),
    quote(symbol, c.tq),
    '0',
  ];
}

export function klineEvent(symbol: string, interval: string, c: Candle, closed: boolean, eventTime: number, tzOffsetMs = 0): Record<string, unknown> {
  return {
    e: 'kline',
    E: eventTime,
    s: symbol,
    k: {
      t: c.openTime,
      T: closeTime(c.openTime, interval, tzOffsetMs),
      s: symbol,
      i: interval,
      // -1 when the candle has no trades yet, as Binance sends.
      f: c.trades ? c.firstTrade : -1,
      L: c.trades ? c.firstTrade + c.trades - 1 : -1,
      o: priceString(symbol, c.o),
      c: priceString(symbol, c.c),
      h: priceString(symbol, c.h),
      l: priceString(symbol, c.l),
      v: volume(c.v),
      n: c.trades,
      x: closed,
      q: quote(symbol, c.q),
      V: volume(c.tv),
      Q: quote(symbol, c.tq),
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
    volume: c.v,
    closed,
  };
}
