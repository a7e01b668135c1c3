import { defineSeries, rsi } from 'kline-engine';

/** Wilder's RSI of the close in its own pane. */
export default defineSeries({
  name: 'rsi',
  description: "Wilder's relative strength index of the close",
  pane: 'oscillator',
  params: { period: 14 },
  ranges: { period: { min: 1, max: 500 } },
  operator: ({ period }) => rsi({ period }),
});
