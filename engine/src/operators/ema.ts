import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type Kernel, type PeriodConfig, periodIndicator } from './forming-aware.ts';
import type { Point } from './point.ts';
import { requireInteger } from './validate.ts';

export type EmaConfig = PeriodConfig;

export interface EmaState {
  /** Values collected for the seed (the SMA of the first `period`), until the EMA exists. */
  readonly seed: readonly number[];
  readonly ema: number | undefined;
}

/** Exponential moving average seeded with the SMA of the first `period` values (the usual definition). */
export function emaKernel(period: number): Kernel<EmaState, number, number> {
  requireInteger('emaKernel', 'period', period);
  const k = 2 / (period + 1);
  return {
    initial: { seed: [], ema: undefined },
    step: (state, x) => {
      if (state.ema !== undefined) {
        const ema = (x - state.ema) * k + state.ema;
        return [{ seed: state.seed, ema }, ema];
      }
      const seed = [...state.seed, x];
      if (seed.length < period) return [{ seed, ema: undefined }, undefined];
      const ema = seed.reduce((a, b) => a + b, 0) / period;
      return [{ seed: [], ema }, ema];
    },
  };
}

/**
 * Exponential moving average, forming-aware. Emits nothing for the first `period - 1` bars; the
 * first value is the SMA of the first `period` closes.
 *
 * ```
 * bars:   -1-3-5(forming)-5(closed)-|      ema({ period: 2 })
 * points: ---a-b(preview)-c(closed)-|      a = 2, b = c = 4
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period smoothing period; a non-integer or < 1 throws `TypeError`.
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function ema(config: EmaConfig): OperatorFunction<Bar, Point> {
  return periodIndicator('ema', config, emaKernel);
}
