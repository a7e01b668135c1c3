import { defineSeries, vwap } from 'kline-engine';

/** Volume-weighted average price, re-anchored at each UTC day. */
export default defineSeries({
  name: 'session-vwap',
  description: 'VWAP anchored to the UTC day session',
  pane: 'overlay',
  params: { anchor: '1d' },
  operator: ({ anchor }) => vwap({ anchor }),
});
