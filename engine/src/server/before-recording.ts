import type { SeriesId } from '../domain/series-id.ts';

/** The oldest bar a recording holds of a series: its open time, and the interval it is a bar of. */
export interface FirstRecordedBar {
  readonly openTime: number;
  /** The series' own interval; for a custom interval, the native interval it is built from (the recording holds only those). */
  readonly interval: string;
}

/** What a replay knows of its recording, for history pages (SOURCE=replay only). */
export interface RecordingReach {
  /** The oldest bar the recording holds of the series (a custom interval: of its source); undefined when it holds none. */
  firstBar(id: SeriesId): FirstRecordedBar | undefined;
}

/** The wire `code` of a history page older than the recording. */
export const BEFORE_RECORDING = 'before_recording';

/**
 * The answer to a replay's history page that holds no bar (HTTP 404): the recording does not reach that
 * far, which is no statement about the market. Answered 200 with no candles, it read as "the exchange
 * had nothing then". Clients stop scrolling back on it (client/src/api.ts); no Retry-After: asking again
 * gives the same. `recordedFrom` is the open time of that first bar, which for a custom interval is a bar
 * of its source (a 45m series' first 15m bar: the message says so; its first whole 45m bucket may open
 * later), or null when the recording holds none.
 */
export function beforeRecording(id: SeriesId, endTime: number, firstBar: FirstRecordedBar | undefined): { error: string; code: typeof BEFORE_RECORDING; recordedFrom: number | null } {
  const builtFrom = firstBar && firstBar.interval !== id.interval ? ` (${id.interval} is built from ${firstBar.interval} bars)` : '';
  const reach = firstBar === undefined ? 'it holds no bar of this series' : `its first ${firstBar.interval} bar of ${id.symbol}${builtFrom} opens at ${new Date(firstBar.openTime).toISOString()}`;
  return {
    error: `not in the recording: this replay holds no ${id.symbol} ${id.interval} bar at or before ${iso(endTime)} (${reach}); what the market did before the recording is not known here`,
    code: BEFORE_RECORDING,
    recordedFrom: firstBar?.openTime ?? null,
  };
}

const iso = (t: number): string => (Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? new Date(t).toISOString() : String(t));

/**
 * The 404 body for an empty history page (`/candles`, `/series`) of a replay asked for a time older than
 * its recording reaches; undefined when the page is to be answered as it is (not a replay, not empty, no
 * endTime, or inside the recording: an empty page there is a hole or a window that moved on, 200).
 */
export function emptyPageBeforeRecording(recording: RecordingReach | undefined, id: SeriesId, endTime: number | undefined, empty: boolean): ReturnType<typeof beforeRecording> | undefined {
  if (!recording || endTime === undefined || !empty) return undefined;
  const firstBar = recording.firstBar(id);
  return firstBar === undefined || endTime < firstBar.openTime ? beforeRecording(id, endTime, firstBar) : undefined;
}
