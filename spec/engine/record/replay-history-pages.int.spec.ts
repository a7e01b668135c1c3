import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { FIRST_BAR, writeKlineRecording } from '../../helpers/kline-recording.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-history-pages-'));
const file = join(dir, 'run.jsonl.gz');
const BTC = seriesId('BTCUSDT', '1m');

// 60 recorded bars, a store keeping 10 of them, no REST answer: pages between the recording's first bar
// and the window are empty, though inside the recording.
describe('history pages of a replay whose window moved on', () => {
  let replay: App;

  beforeAll(async () => {
    writeKlineRecording(file, { bars: 60, stepMs: 10, intervals: ['1m', '2m'] });
    replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', bufferSize: 10, historyOnConnect: 10, seriesDir: 'series' });
    await replay.ready;
    await replay.replay!.done;
    await until(() => replay.store.window(BTC).last(1000).at(-1)?.openTime === FIRST_BAR + 59 * 60_000, 10_000, 'the last recorded bar stored');
  }, 30_000);

  afterAll(async () => {
    await replay?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers an empty page inside the recording 200 with no candles (reproduced: 404 before_recording with a recordedFrom before its endTime)', async () => {
    expect(replay.replay!.firstBar('BTCUSDT', '1m')).toBe(FIRST_BAR);
    const res = await fetch(`${replay.url}/candles/BTCUSDT/1m?endTime=${FIRST_BAR + 20 * 60_000}&limit=5`);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { symbol: 'BTCUSDT', interval: '1m', candles: [] } });
  });

  it('answers a page before the first recorded bar 404 before_recording', async () => {
    const res = await fetch(`${replay.url}/candles/BTCUSDT/1m?endTime=${FIRST_BAR - 1}&limit=5`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'before_recording', recordedFrom: FIRST_BAR });
  });

  it("says of a custom interval that the first bar it names is its source's (reproduced: 'its first 2m bar opens at' the first 1m bar's time)", async () => {
    const res = await fetch(`${replay.url}/candles/BTCUSDT/2m?endTime=${FIRST_BAR - 1}&limit=5`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: `not in the recording: this replay holds no BTCUSDT 2m bar at or before ${new Date(FIRST_BAR - 1).toISOString()} (its first 1m bar of BTCUSDT (2m is built from 1m bars) opens at ${new Date(FIRST_BAR).toISOString()}); what the market did before the recording is not known here`,
      code: 'before_recording',
      recordedFrom: FIRST_BAR,
    });
  });

  it("answers a derived series' range before the first recorded bar 404 before_recording, as /candles (reproduced: 200 with no points)", async () => {
    const res = await fetch(`${replay.url}/series/rsi/BTCUSDT/1m?endTime=${FIRST_BAR - 1}&limit=5`);
    expect({ status: res.status, body: await res.json() }).toMatchObject({ status: 404, body: { code: 'before_recording', recordedFrom: FIRST_BAR } });
  });

  it("answers a derived series' range inside the recording 200 where the window moved on (no points: rsi's warm-up is not kept)", async () => {
    const inside = await fetch(`${replay.url}/series/rsi/BTCUSDT/1m?endTime=${FIRST_BAR + 20 * 60_000}&limit=5`);
    expect({ status: inside.status, points: ((await inside.json()) as { points: unknown[] }).points }).toEqual({ status: 200, points: [] });
  });
});
