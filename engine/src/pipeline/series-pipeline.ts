import { type Observable } from 'rxjs';
import type { SeriesId } from '../domain/series-id.ts';
import { type SeriesInput, type SpliceEvent, spliceGaps } from '../operators/splice-gaps.ts';
import type { BinanceRest } from '../sources/binance-rest.ts';
import type { RestPriority } from '../sources/rest-gate.ts';
import type { BarStore } from '../store/bar-store.ts';

/** How long a fill may hold a series' live updates, and when a failed one is tried again (see spliceGaps). */
export interface FillTiming {
  repairAfterMs?: number;
  fillDeadlineMs?: number;
}

/**
 * One native series: live inputs through gap splicing, REST ranges injected. The caller (the
 * composition root) subscribes and sinks the events; this function only builds the pipeline.
 * `lane`: the REST lane of a series' fills, asked at each fill (one function for every series; a
 * series pinned later moves up).
 */
export function seriesPipeline(id: SeriesId, input$: Observable<SeriesInput>, rest: BinanceRest, store: BarStore, timing?: FillTiming, lane?: (id: SeriesId) => RestPriority): Observable<SpliceEvent> {
  return input$.pipe(
    spliceGaps({
      interval: id.interval,
      key: id.key,
      repairAfterMs: timing?.repairAfterMs,
      fillDeadlineMs: timing?.fillDeadlineMs,
      // Methods, not arrows named by their key: tsx (esbuild keepNames) wraps each of those in
      // __name(), which makes it a dictionary-mode function (~150 B more) for every series.
      seed() {
        return store.window(id).newest();
      },
      fetchRange(from, to) {
        return rest.range$(id.symbol, id.interval, from, to, lane?.(id));
      },
    }),
  );
}
