import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { FIRST_BAR, RECORDED_AT, writeKlineRecording } from '../../helpers/kline-recording.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-early-client-'));
const file = join(dir, 'run.jsonl.gz');
const SOL = seriesId('SOLUSDT', '1m');
/** SOLUSDT, opened on demand while recording, from its 30th frame (3 s into the replay at 1x). */
const SOL_FROM = 30;
const STEP_MS = 100;

// A client of the replay opens SOLUSDT before the recording reaches it, then leaves it idle (the engine
// frees it): the replay must still take the series at its first frame and keep it.
describe('a replay client that opens a late symbol before its first recorded frame, then leaves', () => {
  let replay: App;
  let freedBeforeFirstFrame: boolean;

  beforeAll(async () => {
    writeKlineRecording(file, { bars: 60, stepMs: STEP_MS, late: [{ symbol: 'SOLUSDT', from: SOL_FROM }] });
    replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 1, bufferSize: 1000, idleSeriesMs: 1000 });
    await replay.ready;
    expect((await fetch(`${replay.url}/candles/SOLUSDT/1m?limit=5`)).status).toBe(200);
    expect(replay.lifecycle.has(SOL)).toBe(true);
    // Idle for IDLE_SERIES_MS: freed, its stream unsubscribed.
    await until(() => !replay.lifecycle.has(SOL), 10_000, 'the idle series freed');
    freedBeforeFirstFrame = replay.replay!.now() < RECORDED_AT + 1 + SOL_FROM * STEP_MS;
    await replay.replay!.done;
    await until(() => replay.store.window(SOL).last(1000).length >= 60 - SOL_FROM, 5000, 'the last SOLUSDT bar stored').catch(() => undefined);
  }, 60_000);

  afterAll(async () => {
    await replay?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every frame the recording holds of it (reproduced: the first frame was not held, nothing asked, the series not kept: 0 bars of 30)', async () => {
    // The case at hand: the client's series was gone before the recording reached SOLUSDT.
    expect(freedBeforeFirstFrame).toBe(true);
    expect(replay.lifecycle.has(SOL)).toBe(true);
    const bars = replay.store.window(SOL).last(1000);
    expect(bars.map((b) => b.openTime)).toEqual(Array.from({ length: 60 - SOL_FROM }, (_, i) => FIRST_BAR + (SOL_FROM + i) * 60_000));
    const res = await fetch(`${replay.url}/candles/SOLUSDT/1m?limit=1000`);
    expect(((await res.json()) as { candles: unknown[] }).candles).toHaveLength(60 - SOL_FROM);
  });
});
