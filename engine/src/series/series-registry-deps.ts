import type { Observable } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { WirePosition } from '../domain/wire.ts';
import type { Logger } from '../log.ts';
import type { SeriesPoint } from './define-series.ts';
import type { SeriesInstance } from './series-instance.ts';

/** What the series registry (and its parts: older bars, run slices, feeds, ranges) is given by the node it runs in. */
export interface SeriesRegistryDeps {
  bufferSize: number;
  log: Logger;
  /** The series' bars in the hot window, oldest first. */
  history(id: SeriesId): Bar[];
  /** Up to `limit` bars opening at or before `endTime`, oldest first, from the exchange (the path
   *  GET /candles takes for bars older than the store; on a cluster edge, what Redis keeps, then the
   *  leader's). Without it, only the window is used. */
  olderBars?(id: SeriesId, endTime: number, limit: number, address?: string): Promise<Bar[]>;
  /** Every bar of the series after it was written to the window. */
  bars$(id: SeriesId): Observable<Bar>;
  /**
   * The bars of a hole the series repaired late (older than its newest), after they are in the
   * window: every instance on it starts again from the window, so its values (kept, and from then on
   * live) include them. Without it, a repair is not followed.
   */
  repairs$?(id: SeriesId): Observable<Bar>;
  /** Publishes a message to a topic; the message is built only if someone listens. */
  publish(topic: string, message: () => string): void;
  /** Whether anyone listens to a topic now (optional: without it every update is computed). */
  listening?(topic: string): boolean;
  /** Changes whenever any topic gains or loses its listeners (optional): lets a feed keep its list of
   *  listened instances between changes instead of asking for every instance on every update. */
  listenersVersion?(): number;
  onError(name: string): void;
  /**
   * One bar took a series at least SLOW_BAR_MS of the event loop (warm-up, range or live; optional):
   * counted by name (`engine_series_slow_total`), the log says it too (rate-limited).
   */
  onSlow?(name: string): void;
  /** A live bar took series `name` `ms` of the event loop (every live bar; optional): `engine_series_live_seconds_total`. */
  onLiveTime?(name: string, ms: number): void;
  /** The clock slices are timed by (ms, monotonic; default performance.now). */
  now?(): number;
  /**
   * Share of the engine's time (0–1, default 0.25) live instances may take together over
   * `liveShareWindowMs` (default 10 s) on live bars: past it, the one costing most per client it
   * serves is failed with a message saying so (restarted, never given up: LiveTimeShare), so candles
   * and the other series keep their pace (SERIES_LIVE_SHARE). At 1, none is.
   */
  liveShare?: number;
  liveShareWindowMs?: number;
  /** The candle series' position, carried on each point (issue 13); optional. */
  position?(id: SeriesId): WirePosition;
  /**
   * Every point a live instance computes, corrections of older points included, unless it repeats the
   * newest (optional): ROLE=ingest writes them into the cluster for the edges.
   */
  onPoint?(instance: SeriesInstance, id: SeriesId, point: SeriesPoint): void;
  /** An instance went live (first, or again after a restart: its window may hold points computed meanwhile) or failed. Optional. */
  onState?(instance: SeriesInstance, id: SeriesId): void;
  /**
   * An instance that started without its older bars (the warm-up budget stayed spent) runs again this
   * long after (default 60 s), then after twice that and four times: values from a short start stay
   * wrong until it has them.
   */
  rewarmAfterMs?: number;
  /** First restart delay; doubles per failure up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** Failures in a row after which a series is marked failed and no longer restarted. */
  maxFailures?: number;
  /** A run healthy this long forgets its earlier failures. */
  healthyAfterMs?: number;
  /** An instance nobody holds is released after this long. */
  idleMs?: number;
  /** Parameter variants (other than the defaults) alive at once per definition, symbol and interval. */
  maxVariants?: number;
  /** Instances alive at once in all. */
  maxInstances?: number;
  /** Most bars fed per slice while warming up or computing a range (a slice also ends once its turn's time is spent). */
  sliceBars?: number;
  /** Range computations at once, and waiting. */
  maxRangeJobs?: number;
  maxRangeQueue?: number;
  /** Range requests one client address may have running or queued at once (default 4): one cannot take every place. */
  maxRangePerAddress?: number;
}
