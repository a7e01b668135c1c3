import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type Kernel, type PeriodConfig, periodIndicator } from './forming-aware.ts';
import type { Point } from './point.ts';
import { requireInteger } from './validate.ts';
import { leaving, pushWindow, type WindowState } from './window.ts';

export type SmaConfig = PeriodConfig;

export interface SmaState {
  readonly window: WindowState;
  /** Sum of the window, kept as a running sum. */
  readonly sum: number;
  /** Numbers seen: every `period` of them the sum is recomputed exactly, so rounding never drifts and
   *  the value at a bar depends only on the inputs, not on how often the state was rewound. */
  readonly seen: number;
}

/** Simple moving average of the last `period` numbers, O(1) per number. */
export function smaKernel(period: number): Kernel<SmaState, number, number> {
  requireInteger('smaKernel', 'period', period);
  const next = (s: SmaState, x: number): SmaState => {
    const window = pushWindow(s.window, x, period);
    const seen = s.seen + 1;
    // Exact again also once a NaN or an infinity entered the running sum: it stayed there after the
    // number left the window (0/0 on a flat bar made up to period - 1 more NaNs; a review).
    const sum = seen % period === 0 || !Number.isFinite(s.sum) ? exactSum(window) : s.sum + x - (leaving(s.window, period) ?? 0);
    return { window, sum, seen };
  };
  return {
    initial: { window: { log: [], end: 0, size: 0 }, sum: 0, seen: 0 },
    step: (s, x) => {
      const n = next(s, x);
      return [n, n.window.size === period ? n.sum / period : undefined];
    },
    // Exactly what `step` would give (same sums in the same order), without building the state.
    preview: (s, x) => {
      if (s.window.size + 1 < period) return undefined;
      const sum = (s.seen + 1) % period === 0 || !Number.isFinite(s.sum) ? exactSum(s.window, s.window.size === period ? 1 : 0) + x : s.sum + x - (leaving(s.window, period) ?? 0);
      return sum / period;
    },
  };
}

/** Sum of the window oldest first, leaving out its `skip` oldest numbers. */
function exactSum(w: WindowState, skip = 0): number {
  let sum = 0;
  for (let i = w.end - w.size + skip; i < w.end; i++) sum += w.log[i]!;
  return sum;
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
