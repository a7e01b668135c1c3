import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { type EmaState, emaKernel } from './ema.ts';
import { formingAware, type Kernel, multiPointOf, onBars } from './forming-aware.ts';
import type { MultiPoint } from './point.ts';
import { type PriceSource, priceReader, requireInteger } from './validate.ts';

export interface MacdConfig {
  /** Fast EMA period; default 12. Must be below `slowPeriod`. */
  fastPeriod?: number;
  /** Slow EMA period; default 26. */
  slowPeriod?: number;
  /** EMA period of the signal line; default 9. */
  signalPeriod?: number;
  /** Number read from each bar; default `close`. */
  source?: PriceSource;
  /** Closed bars a late correction may reach back; default 1000. */
  historyLength?: number;
}

export type MacdPoint = MultiPoint<'macd' | 'signal' | 'histogram'>;
type MacdValues = MacdPoint['values'];

interface MacdState {
  readonly fast: EmaState;
  readonly slow: EmaState;
  readonly signal: EmaState;
}

/**
 * MACD (EMA fast − EMA slow, its EMA as signal, their difference as histogram), forming-aware. All
 * EMAs are seeded with an SMA. Emits nothing until the signal exists (`slowPeriod + signalPeriod − 1` bars).
 *
 * ```
 * bars:   -…-x(forming)-x(closed)-|
 * points: -…-p(preview)-q(closed)-|     p, q = { time, values: { macd, signal, histogram }, closed }
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.fastPeriod fast EMA period (default 12); invalid or ≥ slowPeriod throws `TypeError`.
 * @param config.slowPeriod slow EMA period (default 26).
 * @param config.signalPeriod signal EMA period (default 9).
 * @param config.source which number of the bar; default `close`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function macd(config: MacdConfig = {}): OperatorFunction<Bar, MacdPoint> {
  const { fastPeriod = 12, slowPeriod = 26, signalPeriod = 9, source = 'close', historyLength } = config;
  requireInteger('macd', 'fastPeriod', fastPeriod);
  requireInteger('macd', 'slowPeriod', slowPeriod);
  requireInteger('macd', 'signalPeriod', signalPeriod);
  if (fastPeriod >= slowPeriod) throw new TypeError(`macd: fastPeriod (${fastPeriod}) must be below slowPeriod (${slowPeriod})`);
  const fast = emaKernel(fastPeriod);
  const slow = emaKernel(slowPeriod);
  const signal = emaKernel(signalPeriod);
  const kernel: Kernel<MacdState, MacdValues, number> = {
    initial: { fast: fast.initial, slow: slow.initial, signal: signal.initial },
    step: (s, x) => {
      const [f, fv] = fast.step(s.fast, x);
      const [sl, sv] = slow.step(s.slow, x);
      if (fv === undefined || sv === undefined) return [{ fast: f, slow: sl, signal: s.signal }, undefined];
      const line = fv - sv;
      const [sg, gv] = signal.step(s.signal, line);
      const next = { fast: f, slow: sl, signal: sg };
      return [next, gv === undefined ? undefined : { macd: line, signal: gv, histogram: line - gv }];
    },
  };
  return formingAware(onBars(kernel, priceReader('macd', source)), { operator: 'macd', point: multiPointOf<MacdValues>, historyLength });
}
