import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type Kernel, type PeriodConfig, periodIndicator } from './forming-aware.ts';
import type { Point } from './point.ts';
import { mean, windowKernel } from './window.ts';

export type SmaConfig = PeriodConfig;

/** Simple moving average of the last `period` numbers. */
export function smaKernel(period: number): Kernel<readonly number[], number, number> {
  return windowKernel(period, mean);
}

/**
 * Simple moving average, forming-aware: previews while a bar forms, commits when it closes.
 * Emits nothing for the first `period - 1` bars.
 *
 * ```
 * bars:   -1-2-3(forming)-3(closed)-|      sma({ period: 2 })
 * points: ---a-b(preview)-c(closed)-|      a = 1.5, b = c = 2.5
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period bars averaged; a non-integer or < 1 throws `TypeError`.
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function sma(config: SmaConfig): OperatorFunction<Bar, Point> {
  return periodIndicator('sma', config, smaKernel);
}
