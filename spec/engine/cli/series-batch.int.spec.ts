import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { from, toArray, lastValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSeriesBatch } from '../../../engine/cli/run-series-batch.ts';
import { loadSeriesModules } from '../../../engine/src/series/load-series.ts';
import { intervalMs } from '../../../engine/src/domain/interval.ts';
import { anchoredFeedStart, anchoredRuns } from '../../../engine/src/series/anchored-runs.ts';
import { type SeriesPoint, warmupBars } from '../../../engine/src/series/define-series.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { childEnv } from '../../helpers/child-env.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'batch-'));
/**
 * Each load forks a loader process (load-series.ts' probe): loaded once for the file, not inside each
 * timed test, where on a busy CI machine a second fork's start added its seconds to the batch's own.
 */
let definitions: ReturnType<typeof loadSeriesModules> | undefined;
/** A batch run forks that loader too, and may wait up to 30 s for it on a busy machine (its own deadline, then a clear error). */
const BATCH_TIMEOUT_MS = 60_000;

/**
 * The same definition run in memory over the simulator's truth, anchored as the engine runs it (from
 * the block before `fromT`'s): what the file must hold. (Its equality with the engine's own answers
 * is run-series-batch.int.spec.ts'.)
 */
async function expected(sim: SimExchange, name: string, interval: string, fromT: number, toT: number, params: Record<string, number>): Promise<SeriesPoint[]> {
  const def = (await (definitions ??= loadSeriesModules('series'))).find((d) => d.name === name)!;
  const all = { ...def.params, ...params };
  const blockMs = warmupBars(def, all, interval) * intervalMs(interval);
  const feedFrom = anchoredFeedStart(fromT, blockMs);
  const bars = sim.truth('BTCUSDT', interval, feedFrom, toT);
  const points = await lastValueFrom(from(bars).pipe(anchoredRuns(() => def.operator(all), blockMs, feedFrom), toArray()));
  return points.filter((p) => p.closed && p.time >= fromT);
}

describe('npm run series (batch over history)', () => {
  let sim: SimExchange;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 60_000 });
    definitions = loadSeriesModules('series');
    await definitions;
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fromT = Date.UTC(2024, 0, 1);
  const toT = fromT + 3 * DAY;

  it('writes the closed points of a series over 3 days of 1m bars (several REST pages), equal to the operator anchored over the same bars', async () => {
    const out = join(dir, 'rsi.csv');
    const res = await runSeriesBatch({ series: 'rsi:period=10', symbol: 'BTCUSDT', interval: '1m', from: fromT, to: toT, out, format: 'csv', restUrl: sim.restUrl, seriesDir: 'series', weightBudget: 3000 });
    // Its warm-up (rsi's 300 bars: from the start of the block before --from's) comes first.
    expect(res.bars).toBe((fromT - anchoredFeedStart(fromT, 300 * 60_000)) / 60_000 + 3 * 1440 + 1);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('time,iso,value');
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows).toHaveLength(res.points);
    const want = await expected(sim, 'rsi', '1m', fromT, toT, { period: 10 });
    expect(rows.map((r) => Number(r[0]))).toEqual(want.map((p) => p.time));
    // A point for every closed bar of the 3 days (the warm-up came before --from): not an empty file equal to an empty model.
    expect(rows.length).toBeGreaterThanOrEqual(3 * 1440);
    for (let i = 0; i < rows.length; i++) expect(Number(rows[i]![2])).toBeCloseTo(want[i]!.value!, 9);
  }, BATCH_TIMEOUT_MS);

  it('runs a multi-valued series on a custom interval (10m from 5m), as JSON lines', async () => {
    const out = join(dir, 'cross.jsonl');
    const res = await runSeriesBatch({ series: 'ema-cross:fast=5;slow=12', symbol: 'BTCUSDT', interval: '10m', from: fromT, to: toT, out, format: 'jsonl', restUrl: sim.restUrl, seriesDir: 'series', weightBudget: 3000 });
    const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time: number; values: Record<string, number> });
    expect(got).toHaveLength(res.points);
    const want = await expected(sim, 'ema-cross', '10m', fromT, toT, { fast: 5, slow: 12 });
    expect(got.map((p) => p.time)).toEqual(want.map((p) => p.time));
    expect(got.length).toBeGreaterThanOrEqual(3 * 144);
    for (let i = 0; i < got.length; i++) expect(got[i]!.values.fast).toBeCloseTo(want[i]!.values!.fast!, 9);
  }, BATCH_TIMEOUT_MS);

  it('refuses --recording of another format version with exit 2, as SOURCE=replay does (reproduced: it ran, every line read as malformed)', () => {
    const file = join(dir, 'v2.jsonl.gz');
    const frame = JSON.stringify({ stream: 'btcusdt@kline_1m', data: { e: 'kline', E: 1, s: 'BTCUSDT', k: { t: 0, T: 59_999, s: 'BTCUSDT', i: '1m', o: '1', c: '1', h: '1', l: '1', v: '1', n: 1, x: true, q: '1', V: '1', Q: '1', B: '0' } } });
    writeFileSync(file, gzipSync([{ k: 'meta', version: 2, t: 0, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' }, { k: 'ws', t: 1, d: frame }].map((l) => JSON.stringify(l)).join('\n') + '\n'));
    const out = join(dir, 'v2.csv');
    const args = ['--series', 'rsi', '--symbol', 'BTCUSDT', '--interval', '1m', '--from', '1970-01-01', '--to', '1970-01-02', '--out', out, '--recording', file];
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/cli/series-batch.ts', ...args], { env: childEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--recording: '${file}' cannot be read: its meta line says format version 2: this engine reads version 1`);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses with exit 2 a symbol a SYMBOLS=* recording holds no bar of, writing no file (reproduced: it resolved with 0 bars)", () => {
    const file = join(dir, 'universe.jsonl.gz');
    const frame = JSON.stringify({ stream: 'btcusdt@kline_1m', data: { e: 'kline', E: 1, s: 'BTCUSDT', k: { t: 0, T: 59_999, s: 'BTCUSDT', i: '1m', o: '1', c: '1', h: '1', l: '1', v: '1', n: 1, x: true, q: '1', V: '1', Q: '1', B: '0' } } });
    writeFileSync(file, gzipSync([{ k: 'meta', version: 1, t: 0, symbols: ['*'], intervals: ['1m'], source: 'sim' }, { k: 'ws', t: 1, d: frame }].map((l) => JSON.stringify(l)).join('\n') + '\n'));
    const out = join(dir, 'typo.csv');
    const args = ['--series', 'rsi', '--symbol', 'TYPOUSDT', '--interval', '1m', '--from', '1970-01-01', '--to', '1970-01-02', '--out', out, '--recording', file];
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/cli/series-batch.ts', ...args], { env: childEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--symbol: '${file}' holds no closed 1m bar of TYPOUSDT (the interval that builds 1m); it holds bars of BTCUSDT`);
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    [['--symbol', 'BTCUSDT'], /--series: is required/],
    [['--series', 'rsi', '--symbol', 'BTCUSDT', '--interval', '1m', '--from', 'yesterday', '--to', '2024-01-02', '--out', 'x.csv'], /--from: 'yesterday' is not a date/],
    [['--series', 'rsi', '--symbol', 'BTCUSDT', '--interval', '7x', '--from', '2024-01-01', '--to', '2024-01-02', '--out', 'x.csv'], /--interval: invalid interval '7x'/],
    [['--series', 'rsi', '--symbol', 'BTCUSDT', '--interval', '1m', '--from', '2024-01-02', '--to', '2024-01-01', '--out', 'x.csv'], /--to: must be after --from/],
    [['--series', 'nope', '--symbol', 'BTCUSDT', '--interval', '1m', '--from', '2024-01-01', '--to', '2024-01-02', '--out', join(dir, 'x.csv'), '--rest-url', 'http://127.0.0.1:9'], /--series: unknown series 'nope'; available: ema-cross, rsi, session-vwap/],
    [['--bogus', '1'], /--bogus/],
  ])('rejects bad flags with exit 2 naming the flag (%j)', (args, re) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/cli/series-batch.ts', ...args], { env: childEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(re);
  });
});
