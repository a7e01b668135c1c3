import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { beforeRecording } from '../../../engine/src/server/before-recording.ts';

const T = Date.UTC(2024, 0, 1, 12, 0);

describe('beforeRecording: the 404 of a replay history page older than the recording', () => {
  it("names the series' own first bar", () => {
    expect(beforeRecording(seriesId('BTCUSDT', '1m'), T - 1, { openTime: T, interval: '1m' })).toEqual({
      error: 'not in the recording: this replay holds no BTCUSDT 1m bar at or before 2024-01-01T11:59:59.999Z (its first 1m bar of BTCUSDT opens at 2024-01-01T12:00:00.000Z); what the market did before the recording is not known here',
      code: 'before_recording',
      recordedFrom: T,
    });
  });

  it("says a custom interval's first bar is its source interval's (reproduced: 'its first 45m bar opens at' the first 15m bar's time)", () => {
    const answer = beforeRecording(seriesId('BTCUSDT', '45m'), T - 1, { openTime: T + 15 * 60_000, interval: '15m' });
    expect(answer.error).toContain('(its first 15m bar of BTCUSDT (45m is built from 15m bars) opens at 2024-01-01T12:15:00.000Z)');
    expect(answer.error).not.toContain('first 45m bar');
    expect(answer.recordedFrom).toBe(T + 15 * 60_000);
  });

  it('says when the recording holds no bar of the series', () => {
    expect(beforeRecording(seriesId('BTCUSDT', '1m'), T, undefined)).toMatchObject({ recordedFrom: null, error: expect.stringContaining('(it holds no bar of this series)') });
  });
});
