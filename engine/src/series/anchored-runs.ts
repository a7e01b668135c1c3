import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { parseInterval } from '../domain/interval.ts';
import type { SeriesPoint } from './define-series.ts';
import { direct } from '../operators/emitting.ts';
import { pointProblem, pointTimeProblem } from './point-check.ts';

/** One run of the operator. */
interface Run extends OperatorRun {
  /** Bars before this open time are not fed to it. */
  readonly start: number;
}

/** A running operator fed by plain calls. */
export interface OperatorRun {
  next(bar: Bar): void;
  /** Ends its input (an RxJS operator may emit on completion; an `emitting` one has nothing left). */
  complete(): void;
  stop(): void;
}

/**
 * Most points one bar may make an operator emit (a series emits one, or a few corrections): beyond, a
 * run emitting without bound (2,000 points per bar in an attacker-style probe, 12,480 frames to one
 * client in 8 s) fails, as a throwing one does.
 */
export const MAX_POINTS_PER_BAR = 64;

/**
 * Starts `op` fed by plain calls: an operator built by `emitting` (every indicator, `formingAware`)
 * runs its handler directly, with no Subscriber layers per bar; any other is subscribed to a source
 * whose subscriber is called straight (no Subject). Its first error goes to `onError`, once, and
 * stops it; nothing is fed after that. An emitted value that is not a point (see pointProblem), more
 * than MAX_POINTS_PER_BAR of them for one bar, or a point at a time no bar fed opens at (later than
 * the newest, off the grid of bars `barMs` long, in seconds: see pointTimeProblem) is such an error.
 */
export function startRun(op: OperatorFunction<Bar, SeriesPoint>, onPoint: (p: SeriesPoint) => void, onError: (e: unknown) => void, barMs?: number): OperatorRun {
  let stopped = false;
  let halt = () => {};
  /** Points emitted since the last bar was fed (or the input completed). */
  let emitted = 0;
  /** Open times of the first and newest bars fed (what a point's time is checked against: pointTimeProblem). */
  let first = Number.POSITIVE_INFINITY;
  let newest = Number.NEGATIVE_INFINITY;
  const fed = (bar: Bar) => {
    emitted = 0;
    if (bar.openTime < first) first = bar.openTime;
    if (bar.openTime > newest) newest = bar.openTime;
  };
  const emit = (p: SeriesPoint) => {
    if (stopped) return;
    let why = ++emitted > MAX_POINTS_PER_BAR ? `more than ${MAX_POINTS_PER_BAR} points for one bar` : pointProblem(p);
    // Before any bar (an operator emitting as it is subscribed) there is no bar to check against: such
    // a point is a warming run's, not shown.
    if (why === undefined && newest >= first) why = pointTimeProblem(p.time, first, newest, barMs);
    if (why !== undefined) return fail(new TypeError(why));
    // Nothing thrown here may reach the operator's subscriber: RxJS rethrows it later, out of any
    // try, and the process exited (a module emitting as it was subscribed: every symbol went down).
    try {
      onPoint(p);
    } catch (e) {
      fail(e);
    }
  };
  const fail = (e: unknown) => {
    stopped = true;
    halt();
    onError(e);
  };
  const handler = direct(op, { next: emit });
  if (handler) {
    halt = () => handler.stop();
    return {
      next: (bar) => {
        if (stopped) return;
        fed(bar);
        try {
          handler.next(bar);
        } catch (e) {
          stopped = true;
          handler.stop();
          onError(e);
        }
      },
      complete: () => {},
      stop: () => {
        if (stopped) return;
        stopped = true;
        handler.stop();
      },
    };
  }
  let sink: Subscriber<Bar> | undefined;
  const subscription = new Observable<Bar>((s) => {
    sink = s;
  })
    .pipe(op)
    .subscribe({
      next: emit,
      error: (e: unknown) => {
        if (stopped) return;
        stopped = true;
        onError(e);
      },
    });
  halt = () => subscription.unsubscribe();
  return {
    next: (bar) => {
      fed(bar);
      sink?.next(bar);
    },
    complete: () => {
      emitted = 0;
      sink?.complete();
    },
    stop: () => subscription.unsubscribe(),
  };
}

/**
 * Makes a series' value at a time independent of when the series was started: time is cut into
 * fixed blocks of `blockMs` (on the epoch grid), and every value of block k comes from a run of the
 * operator that started at the first bar of block k − 1. Two runs are open at a time: the one that
 * emits (started a block ago) and the next one (started at this block's first bar, warming up); at
 * each block boundary the next becomes the emitting one and a fresh one starts. A value therefore
 * has between one and two blocks of warm-up, always the same bars, whoever asks and when. (Two runs
 * are the price of that: the warming run's state at the boundary is what the next block's values
 * are computed from, and an operator's state is opaque, so it cannot be derived from the older run.)
 *
 * Points of a block are emitted only when its run saw the whole previous block (the input started
 * before it): a run that started late would give under-warmed values. Forming bars go to the
 * emitting run only (the warming run's previews are never shown); a correction reaches each run
 * that had started by its time. Points of earlier blocks that a correction re-emits are dropped
 * (their run is gone).
 *
 * A point of block k may come after block k ends: a resampled bucket that opened in block k closes
 * with a bar of block k + 1. So the emitting run of block k goes on after the boundary, as the
 * draining run, fed the bars from the boundary on, for its own block's points only, until it emits a
 * closed point of a later block (the next bar, for a series of one point per bar) or the next
 * boundary (a bucket longer than a block gets no closed point). Closed at the boundary, a bucket
 * straddling it kept its forming point for good (a 45 m RSI with a 1,000-bar warm-up: a quant review).
 *
 * ```
 * blocks:  |---- k-1 ----|----- k -----|---- k+1 ----|
 * run k:   [started  ....  emits ......]
 * run k+1:               [started ..... emits .......]
 * ```
 * Errors of either run go to `onError` (once); nothing is fed after one.
 */
export class AnchoredRuns {
  private block = Number.NaN;
  private firstTime = Number.NaN;
  private emitting: Run | undefined;
  private warming: Run | undefined;
  /** The last block's emitting run, for its own block's points (see the class comment). */
  private draining: Run | undefined;
  /** Points of the draining run in [drainFrom, drainUntil) are shown; once it emits a closed point past them, it goes. */
  private drainFrom = Number.POSITIVE_INFINITY;
  private drainUntil = Number.NEGATIVE_INFINITY;
  private drained = false;
  // Points of the emitting run at or after this time are shown (infinity: none in this block).
  private emitFrom = Number.POSITIVE_INFINITY;
  private done = false;

  /**
   * @param build makes a fresh operator (one per run).
   * @param blockMs block length in ms (warm-up bars × the interval), > 0.
   * @param inputFrom the input holds every bar from this open time on (default: its first bar's): a
   *   block is emitted when its run could see the whole block before it.
   */
  constructor(
    private readonly build: () => OperatorFunction<Bar, SeriesPoint>,
    private readonly blockMs: number,
    private readonly inputFrom: number | undefined,
    private readonly onPoint: (p: SeriesPoint) => void,
    private readonly onError: (e: unknown) => void,
    /** Bars' length when fixed (not months): a point off their grid fails the run (see startRun). */
    private readonly barMs?: number,
  ) {
    if (!(Number.isFinite(blockMs) && blockMs > 0)) throw new TypeError(`anchoredRuns: blockMs must be a finite number > 0, got ${blockMs}`);
  }

  get closed(): boolean {
    return this.done;
  }

  next(bar: Bar): void {
    if (this.done) return;
    if (Number.isNaN(this.firstTime)) this.firstTime = Math.min(this.inputFrom ?? bar.openTime, bar.openTime);
    if (this.drained) this.endDrain();
    // The draining run first, before a rotation ends it: after a block without bars (an outage) the
    // bar that closes its last bucket is the one that rotates.
    const drainer = this.feedDrainer(bar, undefined);
    if (this.done) return;
    const j = Math.floor(bar.openTime / this.blockMs);
    if (!(j <= this.block)) this.rotate(j, bar.openTime);
    // A builder that threw while rotating failed the series (onError): nothing more is fed. Read on,
    // the emitting run was gone, and the TypeError left the feed's loop and ended the process (a quant review).
    if (this.done) return;
    // The run that began draining at this bar's boundary.
    this.feedDrainer(bar, drainer);
    if (this.done) return;
    const e = this.emitting!;
    if (bar.openTime >= e.start) e.next(bar);
    const w = this.warming;
    if (bar.closed && w && bar.openTime >= w.start && !this.done) w.next(bar);
  }

  /** Completes the emitting run (its last points go out), then stops. */
  complete(): void {
    if (this.done) return;
    this.draining?.complete();
    if (this.done) return;
    this.emitting?.complete();
    this.unsubscribe();
  }

  unsubscribe(): void {
    this.done = true;
    this.close(this.emitting);
    this.close(this.warming);
    this.close(this.draining);
    this.emitting = this.warming = this.draining = undefined;
  }

  /**
   * Feeds the draining run (unless it is `fed` already) a bar from its boundary on: what closes its
   * block's last bucket. An older correction would make it replay (and re-emit) its block, as the
   * closed run it was never did (a diff review: more than 64 points for one bar). Returns the run fed.
   */
  private feedDrainer(bar: Bar, fed: Run | undefined): Run | undefined {
    const d = this.draining;
    if (!d || d === fed || bar.openTime < this.drainUntil) return fed;
    d.next(bar);
    return d;
  }

  private endDrain(): void {
    this.close(this.draining);
    this.draining = undefined;
    this.drained = false;
  }

  private open(start: number): Run {
    const failed = (e: unknown) => {
      if (this.done) return;
      this.unsubscribe();
      this.onError(e);
    };
    let op: OperatorFunction<Bar, SeriesPoint>;
    try {
      op = this.build();
    } catch (e) {
      // A builder that throws at a block's rotation, on the live feed: this series fails, alone.
      failed(e);
      return { next: () => {}, complete: () => {}, stop: () => {}, start };
    }
    // Assigned after startRun returns: an operator may emit as it is subscribed, before (those points
    // are a warming run's, not shown).
    const opened: { run?: Run } = {};
    opened.run = Object.assign(
      startRun(
        op,
        (p) => {
          if (opened.run === undefined) return;
          if (opened.run === this.emitting) {
            if (p.time >= this.emitFrom) this.onPoint(p);
          } else if (opened.run === this.draining) {
            if (p.time >= this.drainFrom && p.time < this.drainUntil) this.onPoint(p);
            // Past its block: nothing of its own is left to come (closed after this bar, not inside its own emit).
            else if (p.time >= this.drainUntil && p.closed) this.drained = true;
          }
        },
        failed,
        this.barMs,
      ),
      { start },
    );
    return opened.run;
  }

  private close(run: Run | undefined): void {
    run?.stop();
  }

  private rotate(j: number, time: number): void {
    this.endDrain();
    if (j === this.block + 1 && this.warming) {
      this.draining = this.emitting;
      this.drainFrom = this.emitFrom;
      this.drainUntil = j * this.blockMs;
      this.emitting = this.warming;
    } else {
      // First bar, or a jump over a block without bars: this run starts at the first bar there is.
      // The one that emitted drains as at a boundary (its block's last bucket closes with a later bar).
      if (this.emitting && Number.isFinite(this.block)) {
        this.draining = this.emitting;
        this.drainFrom = this.emitFrom;
        this.drainUntil = (this.block + 1) * this.blockMs;
      }
      this.close(this.warming);
      this.emitting = this.open(time);
      if (this.done) return;
    }
    this.block = j;
    const warming = this.open(j * this.blockMs);
    if (this.done) return;
    this.warming = warming;
    // Whole only when the input holds the whole previous block.
    this.emitFrom = this.firstTime <= (j - 1) * this.blockMs ? j * this.blockMs : Number.POSITIVE_INFINITY;
  }
}

/**
 * `AnchoredRuns` as an operator (see there).
 * @param blockMs 0 runs one operator over everything (a series whose value depends on its own bar only).
 */
export function anchoredRuns(build: () => OperatorFunction<Bar, SeriesPoint>, blockMs: number, inputFrom?: number): OperatorFunction<Bar, SeriesPoint> {
  if (blockMs === 0) return build();
  if (!(Number.isFinite(blockMs) && blockMs > 0)) throw new TypeError(`anchoredRuns: blockMs must be a finite number >= 0, got ${blockMs}`);
  return (source) =>
    new Observable<SeriesPoint>((subscriber) => {
      const runs = new AnchoredRuns(build, blockMs, inputFrom, (p) => subscriber.next(p), (e) => subscriber.error(e));
      const sub = source.subscribe({
        next: (bar) => runs.next(bar),
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          runs.complete();
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        runs.unsubscribe();
      };
    });
}

/** The first open time to feed so that points from `from` on are whole: the start of the block before. */
export function anchoredFeedStart(from: number, blockMs: number): number {
  return blockMs === 0 ? from : (Math.floor(from / blockMs) - 1) * blockMs;
}

/**
 * A series' runs as the engine opens them, live, for a range and in `npm run series` alike (one
 * place, so the CLI's values and checks are the engine's): one run when each value depends on its
 * own bar (`blockMs` 0), else anchored runs over blocks of `blockMs`; every point checked, its time
 * on the grid of `interval`'s bars (months vary in length: not checked there).
 */
export function openSeriesRuns(build: () => OperatorFunction<Bar, SeriesPoint>, blockMs: number, inputFrom: number | undefined, interval: string, onPoint: (p: SeriesPoint) => void, onError: (e: unknown) => void): OperatorRun {
  const iv = parseInterval(interval);
  const barMs = iv.unit === 'M' ? undefined : iv.ms;
  if (blockMs === 0) return startRun(build(), onPoint, onError, barMs);
  // Live bars go straight into the runs (no Subject or operator layers of their own per bar).
  const runs = new AnchoredRuns(build, blockMs, inputFrom, onPoint, onError, barMs);
  return { next: (bar) => runs.next(bar), complete: () => runs.complete(), stop: () => runs.unsubscribe() };
}
