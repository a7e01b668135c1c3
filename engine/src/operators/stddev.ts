import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type Kernel, type PeriodConfig, periodIndicator } from './forming-aware.ts';
import type { Point } from './point.ts';
import { mean, populationStdDev, windowKernel, type WindowState } from './window.ts';

export type StddevConfig = PeriodConfig;

/** Population standard deviation of the last `period` numbers (divides by `period`, as Bollinger does). */
export function stddevKernel(period: number): Kernel<WindowState, number, number> {
  return windowKernel(period, (w) => populationStdDev(w, mean(w)));
}

/**
 * Rolling population standard deviation, forming-aware. Emits nothing for the first `period - 1` bars.
 *
 * ```
 * bars:   -1-3(forming)-5(closed)-|      stddev({ period: 2 })
 * points: ---a(preview)-b(closed)-|      a = 1, b = 2 (the forming bar moved from 3 to 5)
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period window length; a non-integer or < 1 throws `TypeError`.
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function stddev(config: StddevConfig): OperatorFunction<Bar, Point> {
  return periodIndicator('stddev', config, stddevKernel);
}
