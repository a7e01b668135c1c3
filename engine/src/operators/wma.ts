import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type Kernel, type PeriodConfig, periodIndicator } from './forming-aware.ts';
import type { Point } from './point.ts';
import { windowKernel, type WindowState } from './window.ts';

export type WmaConfig = PeriodConfig;

/** Linearly weighted average of the last `period` numbers: the newest weighs `period`, the oldest 1. */
export function wmaKernel(period: number): Kernel<WindowState, number, number> {
  const denominator = (period * (period + 1)) / 2;
  return windowKernel(period, (w) => {
    let sum = 0;
    for (let i = 0; i < period; i++) sum += w[i]! * (i + 1);
    return sum / denominator;
  });
}

/**
 * Linearly weighted moving average, forming-aware. Emits nothing for the first `period - 1` bars.
 *
 * ```
 * bars:   -1-4(forming)-4(closed)-|      wma({ period: 2 })
 * points: ---a(preview)-b(closed)-|      a = b = (1·1 + 4·2) / 3 = 3
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period bars weighted; a non-integer or < 1 throws `TypeError`.
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function wma(config: WmaConfig): OperatorFunction<Bar, Point> {
  return periodIndicator('wma', config, wmaKernel);
}
