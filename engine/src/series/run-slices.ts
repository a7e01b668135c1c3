// How warm-ups and range computations push bars into their runs without holding the event loop:
// in slices that share turns of about SLICE_TURN_MS, each bar timed, a slow one counted and logged
// by its series' name.
import type { Bar } from '../domain/bar.ts';
import { TurnBudget } from '../domain/turn-budget.ts';
import type { LogDedup } from '../log-dedup.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';
import type { Run } from './series-run.ts';

/**
 * Time the slices of all warm-ups and range computations together may take in one turn of the event
 * loop (ms). Each slice used to be a setImmediate of its own, and Node runs every one queued in one
 * go: 15 instances warming up at once (one client's `series=`) held the loop ~70 ms.
 */
export const SLICE_TURN_MS = 4;
/**
 * A bar that takes an operator this long (ms) is slow: the event loop was held that long (a
 * 2 s-per-bar operator held it 12-22 s in warm-ups of 500-bar slices, and nothing named the series).
 */
export const SLOW_BAR_MS = 100;

/** Whose bars a slice feeds (for the slow-series log and count). */
export interface SliceOwner {
  /** The definition's name (the metric's label). */
  series: string;
  label: string;
  key: string;
}

/** The registry's slicing of bars into runs, in turns every warm-up and range share. */
export class RunSlices {
  /** Every warm-up's and range's slices, in turns of about SLICE_TURN_MS. */
  private readonly sliceTurns: TurnBudget;

  constructor(
    private readonly deps: Pick<SeriesRegistryDeps, 'sliceBars' | 'onSlow'>,
    private readonly now: () => number,
    private readonly dedup: LogDedup,
    private readonly isStopped: () => boolean,
  ) {
    this.sliceTurns = new TurnBudget(SLICE_TURN_MS, now);
  }

  /**
   * Pushes `bars[from…]` into a run in slices, in the turns every run's slices share (see
   * SLICE_TURN_MS): a slice ends when its turn's time is spent (the clock is read after each bar) or
   * after `sliceBars`, so a slow operator holds the event loop one bar at a time, not a slice of 500
   * (a 2 s-per-bar operator held it 12-22 s). Throws the run's error.
   */
  async pushSlices(run: Run, bars: readonly Bar[], owner: SliceOwner, alive = () => !this.isStopped(), from = 0): Promise<void> {
    const slice = this.deps.sliceBars ?? 500;
    let i = from;
    while (i < bars.length) {
      const at = i;
      const reached = await this.inTurn(() => (alive() ? this.pushTimed(run, bars, at, Math.min(bars.length, at + slice), () => this.sliceTurns.left() <= 0, owner) : -1));
      if (reached < 0) return;
      i = reached;
    }
  }

  /**
   * Feeds `bars[from, to)` into a run until `spent()` (at least one bar), timing each bar (a slow one
   * is reported: `slowBar`); returns the index reached, throws the run's error.
   */
  pushTimed(run: Run, bars: readonly Bar[], from: number, to: number, spent: () => boolean, owner: SliceOwner): number {
    let j = from;
    while (j < to) {
      const t0 = this.now();
      run.input.next(bars[j++]!);
      const ms = this.now() - t0;
      if (ms >= SLOW_BAR_MS) this.slowBar(owner, ms);
      const f = run.failure();
      if (f !== undefined) throw f;
      if (spent()) break;
    }
    return j;
  }

  /** A bar took a series SLOW_BAR_MS or more: counted by name, logged once per series per period. */
  slowBar(owner: SliceOwner, ms: number): void {
    this.deps.onSlow?.(owner.series);
    this.dedup.warn(`slow:${owner.series}`, `derived series '${owner.series}' is slow: one bar held the event loop ${Math.round(ms)} ms`, { series: owner.label, key: owner.key, ms: Math.round(ms) });
  }

  /** `work` run in one of the turns slices share (its synchronous part counts in the turn's budget). */
  inTurn<T>(work: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.sliceTurns.run(() => {
        try {
          resolve(work());
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  get sliceBars(): number {
    return this.deps.sliceBars ?? 500;
  }
}
