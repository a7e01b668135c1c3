import { fc } from '@fast-check/vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';

/** Prices and volume of one bar update (any open time). */
export interface Ohlcv {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

const price = fc.double({ min: 1, max: 1000, noNaN: true, noDefaultInfinity: true });
const spread = fc.double({ min: 0, max: 20, noNaN: true, noDefaultInfinity: true });

/** Consistent OHLCV (low ≤ open, close ≤ high), volume > 0 so every VWAP session has a price. */
export const arbOhlcv: fc.Arbitrary<Ohlcv> = fc
  .record({ open: price, close: price, up: spread, down: spread, volume: fc.double({ min: 0.001, max: 1e4, noNaN: true, noDefaultInfinity: true }) })
  .map(({ open, close, up, down, volume }) => ({
    open,
    close,
    high: Math.max(open, close) + up,
    low: Math.max(0.01, Math.min(open, close) - down),
    volume,
  }));

export function toBar(openTime: number, v: Ohlcv, closed: boolean): Bar {
  return { openTime, ...v, closed };
}

/** One bar's life: some forming updates, then its final values. */
export interface BarLife {
  formings: Ohlcv[];
  final: Ohlcv;
}

export const arbBarLife: fc.Arbitrary<BarLife> = fc.record({ formings: fc.array(arbOhlcv, { maxLength: 3 }), final: arbOhlcv });
