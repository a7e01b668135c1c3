import type { PointWindow } from './point-window.ts';

export type SeriesState = 'warming' | 'live' | 'failed';

export interface SeriesInstance {
  readonly label: string;
  readonly topic: string;
  readonly window: PointWindow;
  readonly state: SeriesState;
  /** Why it failed (state `failed`). */
  readonly error?: string;
  /**
   * While it goes live again after its series repaired a hole: the oldest time whose points may have
   * changed (undefined: any, as after a failure). A cluster leader writes its log again from there.
   */
  readonly correctedFrom?: number;
}
