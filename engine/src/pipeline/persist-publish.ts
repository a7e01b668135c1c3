import { sameBar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { Logger } from '../log.ts';
import { createLogDedup } from '../log-dedup.ts';
import type { SpliceEvent } from '../operators/splice-gaps.ts';
import type { BarStore } from '../store/bar-store.ts';
import type { Bar } from '../domain/bar.ts';
import type { PipelineMetrics } from './engine-metrics.ts';

export interface PersistPublishDeps {
  store: BarStore;
  /** Publishes a bar to the series' clients (after it is in the window). */
  publishBar(id: SeriesId, bar: Bar): void;
  /** Every bar after it is in the window, for custom intervals and derived series built on this one. */
  barsOut(id: SeriesId, bar: Bar): void;
  /** A bar of a hole repaired late, after it is in the window (custom intervals rebuild from it). */
  repairsOut?(id: SeriesId, bar: Bar): void;
  metrics: PipelineMetrics;
  log: Logger;
}

/** What the sink takes: a series pipeline's events, or a custom interval's bucket rebuilt after its source repaired a hole. */
export type SinkEvent = SpliceEvent | { type: 'bar'; bar: Bar; origin: 'rebuild' };

/**
 * The end of every series pipeline: a bar goes into the store's window first, then to the clients
 * and to what is computed from the series (a client connecting in between sees it in its snapshot).
 * A repaired bar (a hole filled late, older than the newest) goes to the clients too, so a chart
 * open all day (and, in a cluster, Redis: the leader writes what it publishes) gets it without a
 * new snapshot; not to what is computed from the series, which follows bars in order, but to
 * `repairsOut` (custom intervals rebuild the buckets it touched, derived series start again from
 * the window).
 * Gap events are counted and logged: one line per kind in 10 s, the rest counted (a mass re-sync
 * filled 150 series at once and wrote 150 lines every 75 s); `flush` writes the counts left.
 */
export function persistAndPublish(deps: PersistPublishDeps): ((id: SeriesId, ev: SinkEvent) => void) & { flush(): void } {
  const { store, metrics: pm, log } = deps;
  const filled = createLogDedup({ warn: (msg, fields) => log.info(msg, fields) });
  const unfilled = createLogDedup(log);
  const sink = (id: SeriesId, ev: SinkEvent): void => {
    switch (ev.type) {
      case 'bar': {
        const late = ev.origin === 'repair' || ev.origin === 'rebuild';
        // A repair's range may hold bars already kept (and sent): only what it changes goes out.
        const prev = late ? store.window(id).before(ev.bar.openTime, 1)[0] : store.window(id).newest();
        if (prev && prev.openTime === ev.bar.openTime && sameBar(prev, ev.bar)) return;
        store.upsert(id, [ev.bar]);
        if (ev.origin === 'fill' || ev.origin === 'repair') pm.barsFilled();
        // Older than all a full window keeps: not kept, so not sent either (a client, or Redis, would
        // get a bar with a hole after it).
        if (late && store.window(id).before(ev.bar.openTime, 1)[0]?.openTime !== ev.bar.openTime) return;
        deps.publishBar(id, ev.bar);
        if (late) deps.repairsOut?.(id, ev.bar);
        else deps.barsOut(id, ev.bar);
        return;
      }
      case 'gap':
        pm.gapsDetected();
        log.debug('gap detected', { key: id.key, from: ev.from, reason: ev.reason });
        return;
      case 'gap-filled':
        pm.gapsFilled();
        if (ev.bars > 0) filled.warn('filled', 'gap filled', { key: id.key, bars: ev.bars });
        return;
      case 'gap-unfilled':
        pm.gapsUnfilled();
        unfilled.warn('unfilled', 'gap not filled, will retry', { key: id.key, err: ev.error.message });
        return;
    }
  };
  return Object.assign(sink, {
    flush() {
      filled.flush();
      unfilled.flush();
    },
  });
}
