import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { formingAware, type Kernel, pointOf } from './forming-aware.ts';
import type { Point } from './point.ts';
import { requireInteger } from './validate.ts';

export interface AtrConfig {
  /** Wilder smoothing period (integer ≥ 1); 14 is usual. */
  period: number;
  /** Closed bars a late correction may reach back; default 1000. */
  historyLength?: number;
}

interface AtrState {
  readonly prevClose: number | undefined;
  /** True ranges collected for the seed, until the ATR exists. */
  readonly seed: readonly number[];
  readonly atr: number | undefined;
}

/**
 * Average true range (Wilder), forming-aware. The true range needs the previous close, so the first
 * bar only primes it; the ATR is seeded with the mean of the next `period` true ranges and then
 * smoothed as `(atr · (period − 1) + tr) / period` (TA-Lib's convention). Emits nothing for `period` bars.
 *
 * ```
 * bars:   -a-b-c(forming)-c(closed)-|      atr({ period: 2 })
 * points: -----p(preview)-q(closed)-|      q = mean(tr(b), tr(c))
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period smoothing period; a non-integer or < 1 throws `TypeError`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function atr(config: AtrConfig): OperatorFunction<Bar, Point> {
  const { period, historyLength } = config;
  requireInteger('atr', 'period', period);
  const kernel: Kernel<AtrState, number> = {
    initial: { prevClose: undefined, seed: [], atr: undefined },
    step: (s, bar) => {
      if (s.prevClose === undefined) return [{ ...s, prevClose: bar.close }, undefined];
      const tr = Math.max(bar.high - bar.low, Math.abs(bar.high - s.prevClose), Math.abs(bar.low - s.prevClose));
      if (s.atr !== undefined) {
        const value = (s.atr * (period - 1) + tr) / period;
        return [{ prevClose: bar.close, seed: s.seed, atr: value }, value];
      }
      const seed = [...s.seed, tr];
      if (seed.length < period) return [{ prevClose: bar.close, seed, atr: undefined }, undefined];
      const value = seed.reduce((a, b) => a + b, 0) / period;
      return [{ prevClose: bar.close, seed: [], atr: value }, value];
    },
  };
  return formingAware(kernel, { operator: 'atr', point: pointOf, historyLength });
}
