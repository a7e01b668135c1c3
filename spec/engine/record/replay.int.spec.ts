import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type BatchUsageError, runSeriesBatch } from '../../../engine/cli/run-series-batch.ts';
import { type App, startApp } from '../../../engine/src/app.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { replaySettled } from '../../helpers/replay-settled.ts';

const dir = mkdtempSync(join(tmpdir(), 'rec-'));
const file = join(dir, 'run.jsonl.gz');
const series = ['BTCUSDT', 'ETHUSDT'].flatMap((s) => ['1m', '5m', '10m'].map((i) => seriesId(s, i)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function snapshot(app: App) {
  const bars: Record<string, Bar[]> = {};
  const rsi: Record<string, SeriesPoint[]> = {};
  for (const id of series) {
    bars[id.key] = app.store.window(id).last(10_000);
    const req = app.registry.parse('sma-close', id.interval);
    if (!req.ok) throw new Error(req.error);
    // Held until the app stops: the instance keeps running live between the two snapshots.
    const lease = app.registry.acquire(req.value[0]!, id);
    const inst = await lease.ready;
    rsi[id.key] = inst.window.last(10_000).filter((p) => p.closed);
  }
  return { bars, rsi };
}

describe('record and replay', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = { port: 0, host: '127.0.0.1', bufferSize: 300, historyOnConnect: 100, clientDir: '', seriesDir: 'spec/fixtures/series', log: silentLogger };

  it('replaying a recording at max speed gives the same stored candles and series values as the live run', async () => {
    // Live run on the simulator, recording; a few candles close and two finals go missing (REST fills).
    const live = await startApp({ ...base, source: 'sim', symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m', '5m', '10m'], recordFile: file, simOptions: { pushIntervalMs: 50, clockSpeed: 120 } });
    await live.ready;
    await snapshot(live); // start the series instances now, so they are computed live
    await sleep(1500);
    live.sim!.faults.omitFinals(2);
    await sleep(2500);
    // Quiesce before stopping: no frame left half-processed behind a REST fill.
    live.sim!.faults.pauseStream();
    await replaySettled(live, () => live.sim!.stats.framesSent);
    const recorded = await snapshot(live);
    const fills = live.metrics.value('engine_gap_bars_filled_total');
    await live.stop();
    expect(fills).toBeGreaterThan(0);
    expect(statSync(file).size).toBeGreaterThan(1000);

    const replay = await startApp({ ...base, source: 'replay', replayFile: file, replaySpeed: 'max' });
    await replay.ready;
    await replay.replay!.done;
    // Every frame sent, not yet every one taken in and its gaps filled.
    await replaySettled(replay, () => replay.replay!.stats.framesSent);
    const replayed = await snapshot(replay);
    const stats = { ...replay.replay!.stats };
    await replay.stop();

    expect(stats.framesSent).toBeGreaterThan(100);
    for (const id of series) {
      expect(recorded.bars[id.key]!.length).toBeGreaterThan(50);
      expect(replayed.bars[id.key], id.key).toEqual(recorded.bars[id.key]);
      // Series values: the live run's (computed as bars arrived) equal the replay's, where both have them.
      // (A finite-window series: an EMA-type one would also depend on where its warm-up began.)
      const times = new Set(replayed.rsi[id.key]!.map((p) => p.time));
      const common = recorded.rsi[id.key]!.filter((p) => times.has(p.time));
      expect(common.length).toBeGreaterThan(10);
      const byTime = new Map(replayed.rsi[id.key]!.map((p) => [p.time, p]));
      for (const p of common) expect(byTime.get(p.time)!.value).toBeCloseTo(p.value!, 9);
    }

    // The same definition run over the recording from the command line's batch gives the live values.
    for (const id of series.filter((s) => s.symbol === 'BTCUSDT')) {
      const live = recorded.rsi[id.key]!;
      const out = join(dir, `${id.interval}.jsonl`);
      const res = await runSeriesBatch({ series: 'sma-close', seriesDir: base.seriesDir, symbol: id.symbol, interval: id.interval, from: live[0]!.time, to: live.at(-1)!.time, out, format: 'jsonl', recording: file, restUrl: 'http://127.0.0.1:9', weightBudget: 100 });
      const batch = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time: number; value: number });
      expect(res.points, id.key).toBe(batch.length);
      expect(batch.map((p) => p.time), id.key).toEqual(live.map((p) => p.time));
      batch.forEach((p, i) => expect(p.value).toBeCloseTo(live[i]!.value!, 9));
    }
  }, 60_000);

  it('a batch over a recording builds what its intervals can, and rejects what they cannot or a symbol it lacks, naming the flag', async () => {
    const run = (symbol: string, interval: string) =>
      runSeriesBatch({ series: 'sma-close', seriesDir: base.seriesDir, symbol, interval, from: 0, to: 1e13, out: join(dir, 'x.csv'), format: 'csv', recording: file, restUrl: 'http://127.0.0.1:9', weightBudget: 100 }).catch((e: unknown) => e as BatchUsageError);
    expect((await run('BTCUSDT', '1w')) as BatchUsageError).toMatchObject({ flag: 'recording', message: expect.stringMatching(/holds 1m, 5m bars; none of them builds 1w/) });
    expect((await run('SOLUSDT', '1m')) as BatchUsageError).toMatchObject({ flag: 'symbol' });
    // An interval the recording lacks but can build (1h from its 5m bars) runs.
    const built = (await run('BTCUSDT', '1h')) as unknown as { bars: number; points: number };
    expect(built.points).toBeGreaterThan(0);
    expect(built.bars).toBeGreaterThanOrEqual(12 * built.points);
  });
});
