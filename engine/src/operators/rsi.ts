import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type Kernel, type PeriodConfig, periodIndicator } from './forming-aware.ts';
import type { Point } from './point.ts';
import { requireInteger } from './validate.ts';

export type RsiConfig = PeriodConfig;

export interface RsiState {
  readonly prev: number | undefined;
  /** Changes seen while seeding (until `period` of them). */
  readonly changes: number;
  readonly gain: number;
  readonly loss: number;
  readonly seeded: boolean;
}

/**
 * Wilder's RSI: average gain and loss seeded with the mean of the first `period` changes, then
 * smoothed as `avg = (avg · (period − 1) + x) / period`. No average loss gives 100.
 */
export function rsiKernel(period: number): Kernel<RsiState, number, number> {
  requireInteger('rsiKernel', 'period', period);
  return {
    initial: { prev: undefined, changes: 0, gain: 0, loss: 0, seeded: false },
    step: (s, x) => {
      if (s.prev === undefined) return [{ ...s, prev: x }, undefined];
      const up = Math.max(x - s.prev, 0);
      const down = Math.max(s.prev - x, 0);
      let next: RsiState;
      if (s.seeded) {
        next = { prev: x, changes: s.changes, gain: (s.gain * (period - 1) + up) / period, loss: (s.loss * (period - 1) + down) / period, seeded: true };
      } else {
        const changes = s.changes + 1;
        const seeded = changes === period;
        const gain = s.gain + up;
        const loss = s.loss + down;
        next = { prev: x, changes, gain: seeded ? gain / period : gain, loss: seeded ? loss / period : loss, seeded };
      }
      if (!next.seeded) return [next, undefined];
      return [next, next.loss === 0 ? 100 : 100 - 100 / (1 + next.gain / next.loss)];
    },
  };
}

/**
 * Relative strength index (Wilder), forming-aware. Needs `period + 1` closes: emits nothing before.
 *
 * ```
 * bars:   -1-2-1-3(forming)-3(closed)-|      rsi({ period: 2 })
 * points: -----a-b(preview)-c(closed)-|      a = 50, b = c = 83.33…
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.period smoothing period (14 is usual); a non-integer or < 1 throws `TypeError`.
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function rsi(config: RsiConfig): OperatorFunction<Bar, Point> {
  return periodIndicator('rsi', config, rsiKernel);
}
