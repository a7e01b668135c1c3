import { defineSeries, intervalMs, vwap } from 'kline-engine';

/** Volume-weighted average price, re-anchored at each UTC day. */
export default defineSeries({
  name: 'session-vwap',
  description: 'VWAP anchored to the UTC day session',
  pane: 'overlay',
  params: { anchor: '1d' },
  ranges: { anchor: { options: ['1h', '4h', '8h', '12h', '1d', '1w'] } },
  // A whole session before each value: it then equals a run from the start of time. An anchor longer
  // than the engine can warm on this interval (1w on 1m: 10,080 bars) is refused, not shown partial.
  warmup: ({ anchor }, interval) => Math.max(1, Math.ceil(intervalMs(anchor) / intervalMs(interval))),
  operator: ({ anchor }) => vwap({ anchor }),
});
