import { Observable, type OperatorFunction, Subject, type Subscription } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import type { SeriesPoint } from './define-series.ts';

interface Run {
  /** Bars before this open time are not fed to it. */
  readonly start: number;
  readonly input: Subject<Bar>;
  subscription?: Subscription;
}

/**
 * Makes a series' value at a time independent of when the series was started: time is cut into
 * fixed blocks of `blockMs` (on the epoch grid), and every value of block k comes from a run of the
 * operator that started at the first bar of block k − 1. Two runs are open at a time: the one that
 * emits (started a block ago) and the next one (started at this block's first bar, warming up); at
 * each block boundary the next becomes the emitting one and a fresh one starts. A value therefore
 * has between one and two blocks of warm-up, always the same bars, whoever asks and when.
 *
 * Points of a block are emitted only when its run saw the whole previous block (the input started
 * before it): a run that started late would give under-warmed values. Forming bars go to the
 * emitting run only (the warming run's previews are never shown); a correction reaches each run
 * that had started by its time. Points of earlier blocks that a correction re-emits are dropped
 * (their run is gone).
 *
 * ```
 * blocks:  |---- k-1 ----|----- k -----|---- k+1 ----|
 * run k:   [started  ....  emits ......]
 * run k+1:               [started ..... emits .......]
 * ```
 * Errors of either run and completion of the source pass through.
 * @param build makes a fresh operator (one per run).
 * @param blockMs block length in ms (warm-up bars × the interval); 0 runs one operator over
 *   everything (a series whose value depends on its own bar only).
 * @param inputFrom the input holds every bar from this open time on (default: its first bar's): a
 *   block is emitted when its run could see the whole block before it.
 */
export function anchoredRuns(build: () => OperatorFunction<Bar, SeriesPoint>, blockMs: number, inputFrom?: number): OperatorFunction<Bar, SeriesPoint> {
  if (blockMs === 0) return build();
  if (!(Number.isFinite(blockMs) && blockMs > 0)) throw new TypeError(`anchoredRuns: blockMs must be a finite number >= 0, got ${blockMs}`);
  return (source) =>
    new Observable<SeriesPoint>((subscriber) => {
      let block = Number.NaN;
      let firstTime = Number.NaN;
      let emitting: Run | undefined;
      let warming: Run | undefined;
      // Points of the emitting run at or after this time are shown (infinity: none in this block).
      let emitFrom = Number.POSITIVE_INFINITY;

      const open = (start: number): Run => {
        const run: Run = { start, input: new Subject<Bar>() };
        run.subscription = run.input.pipe(build()).subscribe({
          next: (p) => {
            if (run === emitting && p.time >= emitFrom) subscriber.next(p);
          },
          error: (e: unknown) => subscriber.error(e),
        });
        return run;
      };
      const close = (run: Run | undefined) => run?.subscription?.unsubscribe();

      const rotate = (j: number, time: number) => {
        if (j === block + 1 && warming) {
          close(emitting);
          emitting = warming;
        } else {
          // First bar, or a jump over a block without bars: this run starts at the first bar there is.
          close(emitting);
          close(warming);
          emitting = open(time);
        }
        block = j;
        warming = open(j * blockMs);
        // Whole only when the input holds the whole previous block.
        emitFrom = firstTime <= (j - 1) * blockMs ? j * blockMs : Number.POSITIVE_INFINITY;
      };

      const sub = source.subscribe({
        next: (bar) => {
          if (Number.isNaN(firstTime)) firstTime = Math.min(inputFrom ?? bar.openTime, bar.openTime);
          const j = Math.floor(bar.openTime / blockMs);
          if (Number.isNaN(block) || j > block) rotate(j, bar.openTime);
          const e = emitting!;
          if (bar.openTime >= e.start) e.input.next(bar);
          if (bar.closed && warming && bar.openTime >= warming.start && !subscriber.closed) warming.input.next(bar);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          emitting?.input.complete();
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        close(emitting);
        close(warming);
        emitting = warming = undefined;
      };
    });
}

/** The first open time to feed so that points from `from` on are whole: the start of the block before. */
export function anchoredFeedStart(from: number, blockMs: number): number {
  return blockMs === 0 ? from : (Math.floor(from / blockMs) - 1) * blockMs;
}
