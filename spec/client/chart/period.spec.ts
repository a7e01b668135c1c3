import { describe, expect, it } from 'vitest';
import { PERIOD_SUFFIXES, toPeriod } from '../../../client/src/chart/period.ts';

/** The chart's title: KLineChart writes a period as its span and the locale's suffix for its type. */
describe('the chart title names the interval as the toolbar does', () => {
  it('reads back every native and a custom interval (KLineChart\'s own suffixes gave "1" and "4H")', () => {
    for (const interval of ['1s', '1m', '3m', '15m', '45m', '1h', '4h', '12h', '1d', '3d', '1w', '1M']) {
      const { span, type } = toPeriod(interval);
      expect(`${span}${PERIOD_SUFFIXES[type]}`).toBe(interval);
    }
  });
});
