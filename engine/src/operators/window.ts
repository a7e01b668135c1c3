import type { Kernel } from './forming-aware.ts';
import { requireInteger } from './validate.ts';

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Population standard deviation around `m` (what Bollinger Bands use). */
export function populationStdDev(values: readonly number[], m: number): number {
  let sq = 0;
  for (const v of values) sq += (v - m) * (v - m);
  return Math.sqrt(sq / values.length);
}

/**
 * The last `period` numbers, as a persistent value: `log[end - size .. end)`. States share one
 * append-only log; a slot once written never changes, so every older state stays valid. Stepping a
 * state that is not the log's newest (a rewind or a preview through `step`) forks a fresh log.
 */
export interface WindowState {
  readonly log: readonly number[];
  readonly end: number;
  /** Numbers in the window: `min(period, numbers seen)`. */
  readonly size: number;
}

/** `state` with `x` appended. O(1) amortized: no copy of the window per step (a copy per bar kept every
 *  snapshot of a long window alive and made the garbage collector the hot path). */
export function pushWindow(state: WindowState, x: number, period: number): WindowState {
  const { log, end } = state;
  const size = Math.min(state.size + 1, period);
  // Extend the shared log only at its tip; compact it when it has grown well past the window.
  if (log.length === end && end < 4 * period + 64) {
    (log as number[]).push(x);
    return { log, end: end + 1, size };
  }
  const fresh = log.slice(end - state.size, end) as number[];
  fresh.push(x);
  return { log: fresh, end: fresh.length, size };
}

/** Copies a window into `into` (reused), `x` appended when given: the array `valueOf` reads. */
function view(into: number[], state: WindowState, period: number, x?: number): readonly number[] {
  into.length = 0;
  const full = x !== undefined && state.size === period;
  for (let i = state.end - state.size + (full ? 1 : 0); i < state.end; i++) into.push(state.log[i]!);
  if (x !== undefined) into.push(x);
  return into;
}

// One scratch array for every window kernel: `valueOf` reads it at once and keeps nothing of it.
const scratch: number[] = [];

/** The number that leaves the window when one more is pushed (undefined while it is not full). */
export function leaving(state: WindowState, period: number): number | undefined {
  return state.size === period ? state.log[state.end - period] : undefined;
}

/**
 * A kernel over the last `period` numbers: `valueOf` sees the full window (oldest first), in a scratch
 * array it must not keep. A live update allocates nothing but the small state object.
 */
export function windowKernel<V>(period: number, valueOf: (window: readonly number[]) => V): Kernel<WindowState, V, number> {
  requireInteger('windowKernel', 'period', period);
  return {
    // Each kernel its own log, so unrelated series do not fork each other's.
    initial: { log: [], end: 0, size: 0 },
    step: (state, x) => {
      const next = pushWindow(state, x, period);
      return [next, next.size === period ? valueOf(view(scratch, next, period)) : undefined];
    },
    preview: (state, x) => (Math.min(state.size + 1, period) === period ? valueOf(view(scratch, state, period, x)) : undefined),
  };
}
