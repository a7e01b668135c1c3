import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { formingAware, type Kernel, multiPointOf, onBars, type PeriodConfig } from './forming-aware.ts';
import type { MultiPoint } from './point.ts';
import { priceReader, requireInteger, requirePositive } from './validate.ts';
import { mean, populationStdDev, windowKernel, type WindowState } from './window.ts';

export interface BollingerBandsConfig extends Partial<PeriodConfig> {
  /** Width of the bands in standard deviations; default 2. */
  stdDev?: number;
}

export type BollingerBandsPoint = MultiPoint<'upper' | 'middle' | 'lower'>;
type Bands = BollingerBandsPoint['values'];

/**
 * Bollinger Bands: SMA middle band ± `stdDev` population standard deviations (Bollinger's own
 * definition; some tools use the sample deviation), forming-aware. Emits nothing for `period − 1` bars.
 *
 * ```
 * bars:   -1-3(forming)-3(closed)-|      bollingerBands({ period: 2, stdDev: 2 })
 * points: ---a(preview)-b(closed)-|      a = b = { upper: 4, middle: 2, lower: 0 }
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period window length (default 20); a non-integer or < 1 throws `TypeError`.
 * @param config.stdDev band width in deviations (default 2); not > 0 throws `TypeError`.
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function bollingerBands(config: BollingerBandsConfig = {}): OperatorFunction<Bar, BollingerBandsPoint> {
  const { period = 20, stdDev = 2, source = 'close', historyLength } = config;
  requireInteger('bollingerBands', 'period', period);
  requirePositive('bollingerBands', 'stdDev', stdDev);
  const kernel: Kernel<WindowState, Bands, number> = windowKernel(period, (w) => {
    const middle = mean(w);
    const width = stdDev * populationStdDev(w, middle);
    return { upper: middle + width, middle, lower: middle - width };
  });
  const read = priceReader('bollingerBands', source);
  return formingAware(onBars(kernel, read), { operator: 'bollingerBands', point: multiPointOf<Bands>, historyLength });
}
