import type { WireCandle } from '../feed/wire.ts';

/** A candle as the engine's protocol carries it: `time` is the open time in epoch ms. */
export type Candle = WireCandle;

export const seriesKey = (symbol: string, interval: string) => `${symbol}:${interval}`;
