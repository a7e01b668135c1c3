// One anchored run of a series' operator, as the registry's live instances and ranges open it: the
// run, how bars are pushed into it, and the block length its anchoring uses. Shared by both, so a
// range computes what a live instance does.
import { Subscription } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { intervalMs } from '../domain/interval.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { openSeriesRuns } from './anchored-runs.ts';
import { type SeriesPoint, warmupBars } from './define-series.ts';
import type { SeriesRequest } from './series-requests.ts';

/** An anchored run of an operator, fed through `input`. */
export interface Run {
  readonly input: RunInput;
  readonly subscription: Subscription;
  failure(): unknown;
}

export interface RunInput {
  next(bar: Bar): void;
}

/** A fresh anchored run of the request's operator; its error is kept for `failure()`. */
export function openRun(req: SeriesRequest, blockMs: number, inputFrom: number | undefined, interval: string, onPoint: (p: SeriesPoint) => void): Run {
  let failure: unknown;
  const onError = (e: unknown) => (failure = e ?? new Error('derived series failed'));
  const runs = openSeriesRuns(() => req.def.operator(req.params), blockMs, inputFrom, interval, onPoint, onError);
  // Whatever a bar makes throw fails this run alone: thrown on, it left the live feed's loop, and RxJS
  // rethrew it out of any try, ending the process for every series and client (a quant review).
  const input: RunInput = {
    next: (bar) => {
      if (failure !== undefined) return;
      try {
        runs.next(bar);
      } catch (e) {
        if (failure === undefined) onError(e);
        runs.stop();
      }
    },
  };
  return { input, subscription: new Subscription(() => runs.stop()), failure: () => failure };
}

/** Feeds `bars[from, to)` into a run, stopping at (and throwing) its first error. */
export function pushAll(run: Run, bars: readonly Bar[], from = 0, to = bars.length): void {
  for (let j = from; j < to && run.failure() === undefined; j++) run.input.next(bars[j]!);
  const f = run.failure();
  if (f !== undefined) throw f;
}

export function blockMsOf(req: SeriesRequest, id: SeriesId): number {
  return warmupBars(req.def, req.params, id.interval) * intervalMs(id.interval);
}
