import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';

/**
 * Where a series stands: `epoch` names one unbroken sequence of its updates (a new one whenever the
 * sequence could have been lost, e.g. a fresh process or a Redis that lost its data), `offset` counts
 * its published updates (+1 each) within that epoch.
 */
export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

/** What a client missed since `since`: the latest version of every bar touched after it, by open time. */
export interface Recovery {
  readonly position: Position;
  readonly bars: Bar[];
}

/** Positions and recent history of every series, as the WebSocket route needs them (synchronous). */
export interface SeriesPositions {
  /** The series' position now (its epoch is created on first use). */
  position(id: SeriesId): Position;
  /**
   * The updates after `since` in `epoch`, coalesced per bar; undefined when the epoch differs or the
   * kept history no longer reaches back to `since + 1` (the client then gets a fresh snapshot).
   */
  recover(id: SeriesId, epoch: string, since: number): Recovery | undefined;
  /**
   * True while this node has not applied updates a client already saw: the same epoch, `since` a
   * little past its offset (no more than its history holds). An edge a client moved to from one
   * whose feed was ahead (its own edge died); the client waits for it rather than take a snapshot.
   */
  behind?(id: SeriesId, epoch: string, since: number): boolean;
}

/**
 * How much recent history each series keeps for resumes: the last `updates`, none older than `maxAgeMs`,
 * and all series together about `totalUpdates` (each an equal share, see `historyShare`).
 */
export interface HistoryBounds {
  updates: number;
  maxAgeMs: number;
  totalUpdates?: number;
}
