import type { OperatorFunction } from 'rxjs';
import { type Bar, sameBar } from '../domain/bar.ts';
import { emitting } from './emitting.ts';
import type { Point } from './point.ts';
import { type PriceSource, priceReader, requireInteger } from './validate.ts';

/**
 * The math of one indicator as a pure fold over closed bars. `step` must not mutate `state`: the
 * wrapper previews a forming bar by stepping the committed state and throwing the new state away,
 * and rewinds a correction by stepping again from a kept snapshot.
 */
export interface Kernel<S, V, I = Bar> {
  readonly initial: S;
  /** The state after `input`, and the value for it (`undefined` before warm-up). */
  step(state: S, input: I): readonly [S, V | undefined];
  /** The value `step` would give, without building the next state (cheaper previews); optional. */
  preview?(state: S, input: I): V | undefined;
}

/** Adapts a kernel over numbers (EMA, SMA, …) to bars by reading one number from each bar. */
export function onBars<S, V>(kernel: Kernel<S, V, number>, read: (bar: Bar) => number): Kernel<S, V> {
  const preview = kernel.preview;
  return {
    initial: kernel.initial,
    step: (state, bar) => kernel.step(state, read(bar)),
    preview: preview ? (state, bar) => preview(state, read(bar)) : undefined,
  };
}

export interface FormingAwareConfig<V, P> {
  /** Name used in validation errors. */
  operator: string;
  /** Builds the emitted point for a value. */
  point: (time: number, value: V, closed: boolean) => P;
  /** How many closed bars a late correction may reach back (older corrections are dropped). */
  historyLength?: number;
}

/** Default reach of a late correction, in bars. */
export const DEFAULT_HISTORY_LENGTH = 1_000;

/**
 * A committed state is kept every this many closed bars; a correction rewinds to the nearest one
 * before it and steps forward again. Keeping every state would keep one live object per bar and
 * series, and the garbage collector would copy them all (it was the hot path with many series).
 */
const CHECKPOINT_EVERY = 32;

/**
 * Runs a kernel over a bar stream with the forming/closed contract: state advances only on closed
 * bars; a forming bar yields a preview from the committed state plus that bar; a closed bar re-sent
 * with an `openTime` already committed (a late correction or a filled hole) rewinds to the state
 * before it and re-emits the closed points from there on, in order. Forming bars not newer than the
 * last closed bar, exact duplicates, and corrections older than `historyLength` bars are dropped.
 *
 * ```
 * bars:   -a(forming)-a'(forming)-A(closed)-b-B-|
 * points: -p(preview)-p'(preview)-P(closed)-q-Q-|
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 */
export function formingAware<S, V, P>(kernel: Kernel<S, V>, config: FormingAwareConfig<V, P>): OperatorFunction<Bar, P> {
  const { operator, point, historyLength = DEFAULT_HISTORY_LENGTH } = config;
  requireInteger(operator, 'historyLength', historyLength);
  return emitting<Bar, P>((subscriber) => {
    // Closed bars in order; checkpoints[k] is the state before bars[k * CHECKPOINT_EVERY].
    let bars: Bar[] = [];
    let checkpoints: S[] = [];
    let state = kernel.initial;
    let lastTime = -Infinity;

    const commit = (bar: Bar, emit: boolean): void => {
      if (bars.length % CHECKPOINT_EVERY === 0) checkpoints.push(state);
      bars.push(bar);
      const [next, value] = kernel.step(state, bar);
      state = next;
      lastTime = bar.openTime;
      if (emit && value !== undefined) subscriber.next(point(bar.openTime, value, true));
    };

    const correct = (bar: Bar): void => {
      // First committed bar not older than the correction (bars are sorted by open time).
      let lo = 0;
      let hi = bars.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (bars[mid]!.openTime < bar.openTime) lo = mid + 1;
        else hi = mid;
      }
      const i = lo;
      // Reach back at most `historyLength` bars (the same rule whatever was trimmed yet).
      if (i < bars.length - historyLength) return;
      if (bars[i]?.openTime === bar.openTime) {
        if (sameBar(bars[i]!, bar)) return;
        bars[i] = bar;
      } else {
        bars.splice(i, 0, bar);
      }
      // Rewind to the checkpoint before `i`, step silently up to it, then emit from it on.
      const k = Math.floor(i / CHECKPOINT_EVERY);
      const from = k * CHECKPOINT_EVERY;
      const replay = bars.splice(from);
      state = checkpoints[k]!;
      checkpoints.length = k;
      replay.forEach((b, j) => commit(b, from + j >= i));
    };

    return {
      next: (bar) => {
        if (!bar.closed) {
          if (bar.openTime <= lastTime) return;
          const value = kernel.preview ? kernel.preview(state, bar) : kernel.step(state, bar)[1];
          if (value !== undefined) subscriber.next(point(bar.openTime, value, false));
          return;
        }
        if (bar.openTime > lastTime) commit(bar, true);
        else correct(bar);
        // Trim whole checkpoint spans, in chunks, so the arrays are not shifted on every bar.
        if (bars.length > 2 * historyLength + CHECKPOINT_EVERY) {
          const drop = Math.floor((bars.length - historyLength) / CHECKPOINT_EVERY);
          bars = bars.slice(drop * CHECKPOINT_EVERY);
          checkpoints = checkpoints.slice(drop);
        }
      },
      finalize: () => {
        bars = [];
        checkpoints = [];
      },
    };
  });
}

/** Shorthand for single-output indicators: points `{ time, value, closed }`. */
export function pointOf(time: number, value: number, closed: boolean): Point {
  return { time, value, closed };
}

/** Shorthand for multi-output indicators: points `{ time, values, closed }`. */
export function multiPointOf<V>(time: number, values: V, closed: boolean) {
  return { time, values, closed };
}

/** Config shared by the single-input indicators (SMA, EMA, WMA, RSI, stddev). */
export interface PeriodConfig {
  /** Bars in the window or smoothing period (integer ≥ 1). */
  period: number;
  /** Number read from each bar; default `close`. */
  source?: PriceSource;
  /** Closed bars a late correction may reach back; default 1000. */
  historyLength?: number;
}

/** Validates a `PeriodConfig` and runs the kernel it builds over the chosen number of each bar. */
export function periodIndicator<S>(
  operator: string,
  config: PeriodConfig,
  build: (period: number) => Kernel<S, number, number>,
): OperatorFunction<Bar, Point> {
  const { period, source = 'close', historyLength } = config;
  requireInteger(operator, 'period', period);
  return formingAware(onBars(build(period), priceReader(operator, source)), { operator, point: pointOf, historyLength });
}
