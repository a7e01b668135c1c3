import type { SeriesId } from '../domain/series-id.ts';

/** What a replay knows of its recording, for history pages (SOURCE=replay only). */
export interface RecordingReach {
  /** Open time of the oldest bar the recording holds of the series (a custom interval: of its source); undefined when it holds none. */
  firstBar(id: SeriesId): number | undefined;
}

/** The wire `code` of a history page older than the recording. */
export const BEFORE_RECORDING = 'before_recording';

/**
 * The answer to a replay's history page that holds no bar (HTTP 404): the recording does not reach that
 * far, which is no statement about the market. Answered 200 with no candles, it read as "the exchange
 * had nothing then". Clients stop scrolling back on it (client/src/api.ts); no Retry-After: asking again
 * gives the same.
 */
export function beforeRecording(id: SeriesId, endTime: number, firstBar: number | undefined): { error: string; code: typeof BEFORE_RECORDING; recordedFrom: number | null } {
  const reach = firstBar === undefined ? 'it holds no bar of this series' : `its first ${id.interval} bar of ${id.symbol} opens at ${new Date(firstBar).toISOString()}`;
  return {
    error: `not in the recording: this replay holds no ${id.symbol} ${id.interval} bar at or before ${iso(endTime)} (${reach}); what the market did before the recording is not known here`,
    code: BEFORE_RECORDING,
    recordedFrom: firstBar ?? null,
  };
}

const iso = (t: number): string => (Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? new Date(t).toISOString() : String(t));
