import type { KLineData } from 'klinecharts';
import { describe, expect, it } from 'vitest';
import { seriesCalc } from '../../../client/src/chart/series-calc.ts';
import { market } from '../../../client/src/store/market.ts';
import { mergeSeriesPoint, setSeriesPoints } from '../../../client/src/store/series-points.ts';

const k = (t: number): KLineData => ({ timestamp: t, open: 1, high: 1, low: 1, close: 1, volume: 1 });
const current = () => ({ symbol: 'BTCUSDT', interval: '1m' });

describe('an engine series drawn as a KLineChart indicator', () => {
  it('looks each bar\'s values up by time, the plotted keys only; makes no object per bar twice, even across calcs', () => {
    setSeriesPoints('ema-cross', 'BTCUSDT', '1m', [
      { time: 1, values: { fast: 1, slow: 2, cross: 0 } },
      { time: 3, values: { fast: 3, slow: 4, cross: 1 } },
    ]);
    const bars = [k(1), k(2), k(3)];
    const first = seriesCalc('ema-cross', ['fast', 'slow'], current)(bars);
    expect(first).toEqual([{ fast: 1, slow: 2 }, {}, { fast: 3, slow: 4 }]);
    // A point changes: a new calc (as the chart gets one) makes that one again, reuses the rest.
    mergeSeriesPoint('ema-cross', 'BTCUSDT', '1m', 3, { fast: 5, slow: 6, cross: 1 });
    const again = seriesCalc('ema-cross', ['fast', 'slow'], current)(bars);
    expect(again).toEqual([{ fast: 1, slow: 2 }, {}, { fast: 5, slow: 6 }]);
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    expect(again[2]).not.toBe(first[2]);
    // Other plotted keys are other objects.
    expect(seriesCalc('ema-cross', ['cross'], current)(bars)).toEqual([{ cross: 0 }, {}, { cross: 1 }]);
    market.setState({ seriesPoints: {} });
  });
});
