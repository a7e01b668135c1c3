/** A candle as the engine's protocol carries it: `time` is the open time in epoch ms. */
export interface Candle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  is_closed: boolean;
}

export const seriesKey = (symbol: string, interval: string) => `${symbol}:${interval}`;
