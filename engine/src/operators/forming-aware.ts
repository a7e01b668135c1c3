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

interface Committed<S> {
  bar: Bar;
  /** State before this bar was folded in, so a correction of it can start from there. */
  before: S;
}

/** Default reach of a late correction, in bars. */
export const DEFAULT_HISTORY_LENGTH = 1_000;

/**
 * Runs a kernel over a bar stream with the forming/closed contract: state advances only on closed
 * bars; a forming bar yields a preview from the committed state plus that bar; a closed bar re-sent
 * with an `openTime` already committed (a late correction or a filled hole) rewinds to the snapshot
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
    let history: Committed<S>[] = [];
    // True once snapshots were dropped: rewinding before history[0] is then impossible.
    let trimmed = false;
    let state = kernel.initial;
    let lastTime = -Infinity;

    const commit = (bar: Bar): void => {
      history.push({ bar, before: state });
      const [next, value] = kernel.step(state, bar);
      state = next;
      lastTime = bar.openTime;
      if (value !== undefined) subscriber.next(point(bar.openTime, value, true));
    };

    const correct = (bar: Bar): void => {
      let i = history.findIndex((c) => c.bar.openTime >= bar.openTime);
      if (i < 0) i = history.length;
      if (i === 0 && trimmed && history[0].bar.openTime !== bar.openTime) return;
      if (history[i]?.bar.openTime === bar.openTime) {
        if (sameBar(history[i].bar, bar)) return;
        history[i] = { bar, before: history[i].before };
      } else {
        history.splice(i, 0, { bar, before: history[i]?.before ?? state });
      }
      const replay = history.splice(i);
      state = replay[0].before;
      for (const c of replay) commit(c.bar);
    };

    return {
      next: (bar) => {
        if (!bar.closed) {
          if (bar.openTime <= lastTime) return;
          const value = kernel.preview ? kernel.preview(state, bar) : kernel.step(state, bar)[1];
          if (value !== undefined) subscriber.next(point(bar.openTime, value, false));
          return;
        }
        if (bar.openTime > lastTime) commit(bar);
        else correct(bar);
        // Trim in chunks so the array is not shifted on every bar.
        if (history.length > 2 * historyLength) {
          history = history.slice(history.length - historyLength);
          trimmed = true;
        }
      },
      finalize: () => {
        history = [];
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
