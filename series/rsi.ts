import { defineSeries, rsi } from 'kline-engine';

/** Wilder's RSI of the close in its own pane. */
export default defineSeries({
  name: 'rsi',
  description: "Wilder's relative strength index of the close",
  pane: 'oscillator',
  params: { period: 14 },
  ranges: { period: { min: 1, max: 500 } },
  // Wilder's smoothing remembers every bar: two periods of history (at least the default 300)
  // before the first point asked for, so a long period still gives a point for every candle.
  warmup: ({ period }) => Math.max(300, 2 * period + 1),
  operator: ({ period }) => rsi({ period }),
});
