import { registerIndicator } from 'klinecharts';
import { seriesCalc } from './series-calc.ts';

export { seriesCalc } from './series-calc.ts';

/** KLineChart indicator name of an engine-computed series. */
export const seriesIndicatorName = (label: string) => `engine:${label}`;

/** Registers a KLineChart indicator that draws an engine-computed series (see `seriesCalc`). */
export function registerSeriesIndicator(label: string, keys: string[], current: () => { symbol: string; interval: string }): void {
  registerIndicator<Record<string, number>>({
    name: seriesIndicatorName(label),
    shortName: label,
    precision: 4,
    figures: keys.map((key) => ({ key, title: `${key}: `, type: 'line' })),
    calc: seriesCalc(label, keys, current),
  });
}
