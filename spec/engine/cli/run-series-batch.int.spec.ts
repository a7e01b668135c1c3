import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchUsageError, runSeriesBatch, type SeriesBatchOptions } from '../../../engine/cli/run-series-batch.ts';
import { type App, startApp } from '../../../engine/src/app.ts';
import { bucketOpen } from '../../../engine/src/domain/interval.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const dir = mkdtempSync(join(tmpdir(), 'batch-engine-'));
/** Series modules as a user writes them (the review's repros). */
const seriesDir = 'spec/fixtures/series-batch';

type Line = { time: number; value: number | null };
const readLines = (file: string): Line[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
/** Files the runs left in `at` (a temporary `.part` file must not stay). */
const leftovers = (at: string) => readdirSync(at).filter((f) => f.endsWith('.part'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run series: the engine\'s point checks (on the simulator, over HTTP)', () => {
  let sim: SimExchange;
  const out = join(dir, 'checks');
  mkdirSync(out);
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 60_000 });
  });
  afterAll(() => sim?.close());
  const fromT = Date.UTC(2024, 0, 1);
  const run = (series: string, file: string, more: Partial<SeriesBatchOptions> = {}) =>
    runSeriesBatch({ series, seriesDir, symbol: 'BTCUSDT', interval: '1m', from: fromT, to: fromT + HOUR, out: join(out, file), format: 'jsonl', restUrl: sim.restUrl, weightBudget: 3000, ...more });

  it.each([
    ['async-points', 'a point was a Promise: operators emit points synchronously (an async map?)'],
    ['no-closed', "a point's closed must be true or false, got nothing"],
    ['many-points', 'more than 64 points for one bar'],
    // The engine's grid check too (reproduced: the batch wrote 60 points the engine refuses).
    ['off-grid', expect.stringMatching(/^a point's time \d+ is not a bar's open time \(off the grid of the bars, which open every 60000 ms\)$/)],
  ])('%s fails the run with the engine\'s message and writes no file', async (series, message) => {
    const err = await run(series, `${series}.jsonl`).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(TypeError);
    expect(err!.message).toEqual(message);
    expect(existsSync(join(out, `${series}.jsonl`))).toBe(false);
  });

  it('writes no point an operator emits only when its input ends (the engine\'s never ends), and says so', async () => {
    const warnings: string[] = [];
    const res = await run('on-complete', 'on-complete.jsonl', { onWarn: (m) => warnings.push(m) });
    expect(res.points).toBe(0);
    expect(readFileSync(join(out, 'on-complete.jsonl'), 'utf8')).toBe('');
    expect(warnings).toEqual([expect.stringMatching(/^'on-complete' emitted 61 points only when its input ended: not written/)]);
  });

  it('an operator that throws leaves no file (nor a temporary one), and an older file of that name as it was', async () => {
    const file = join(out, 'thrower.jsonl');
    writeFileSync(file, 'an earlier run\n');
    await expect(run('thrower', 'thrower.jsonl')).rejects.toThrow(/^boom at \d+$/);
    expect(readFileSync(file, 'utf8')).toBe('an earlier run\n');
    rmSync(file);
    await expect(run('thrower', 'thrower.jsonl')).rejects.toThrow(RangeError);
    expect(existsSync(file)).toBe(false);
    expect(leftovers(out)).toEqual([]);
  });
});

describe('npm run series: --to is bounded by the exchange\'s clock, not the host\'s', () => {
  let sim: SimExchange;
  // The simulator's clock 30 days ahead of the host's (a host clock behind the exchange's, or a simulator started in the future).
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 60_000, clockStart: Date.now() + 30 * DAY });
  });
  afterAll(() => sim?.close());

  it('runs over bars the exchange has closed though the host\'s clock has not reached them', async () => {
    const to = bucketOpen(sim.now(), '1m') - HOUR;
    const file = join(dir, 'ahead.jsonl');
    const res = await runSeriesBatch({ series: 'counter', seriesDir, symbol: 'BTCUSDT', interval: '1m', from: to - 2 * HOUR, to, out: file, format: 'jsonl', restUrl: sim.restUrl, weightBudget: 3000 });
    const got = readLines(file);
    expect(res.points).toBe(2 * 60 + 1);
    expect(got.map((p) => p.time)).toEqual(Array.from({ length: 121 }, (_, i) => to - 2 * HOUR + i * MIN));
  });

  it('still stops at the exchange\'s forming bar: a --to past it gives the closed bars before it', async () => {
    const now = bucketOpen(sim.now(), '1m');
    const file = join(dir, 'future.jsonl');
    await runSeriesBatch({ series: 'counter', seriesDir, symbol: 'BTCUSDT', interval: '1m', from: now - HOUR, to: now + DAY, out: file, format: 'jsonl', restUrl: sim.restUrl, weightBudget: 3000 });
    const got = readLines(file);
    expect(got[0]!.time).toBe(now - HOUR);
    expect(got.at(-1)!.time).toBeGreaterThanOrEqual(now - MIN);
    expect(got.at(-1)!.time).toBeLessThan(now + 5 * MIN);
  });
});

describe('npm run series computes as the engine does (its values are the engine\'s GET /series values)', () => {
  let app: App;
  let end: number;
  beforeAll(async () => {
    app = await startApp({ port: 0, host: '127.0.0.1', source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300, historyOnConnect: 100, clientDir: '', seriesDir, log: silentLogger, simOptions: { pushIntervalMs: 60_000 } });
    await app.ready;
    end = bucketOpen(app.sim!.now(), '1m') - 2 * HOUR;
  });
  afterAll(() => app?.stop());

  /** The engine's points for the `limit` bars up to `endTime`, over HTTP. */
  const engine = async (series: string, endTime: number, limit: number): Promise<Line[]> => {
    const res = await fetch(`${app.url}/series/${series}/BTCUSDT/1m?endTime=${endTime}&limit=${limit}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { points: Line[] }).points.map((p) => ({ time: p.time, value: p.value }));
  };

  it.each(['counter', 'rsi5'])('%s over REST: every value equals the engine\'s, exactly', async (series) => {
    const want = await engine(series, end, 500);
    expect(want).toHaveLength(500);
    const file = join(dir, `${series}-rest.jsonl`);
    const res = await runSeriesBatch({ series, seriesDir, symbol: 'BTCUSDT', interval: '1m', from: want[0]!.time, to: end, out: file, format: 'jsonl', restUrl: app.sim!.restUrl, weightBudget: 3000 });
    expect(readLines(file)).toEqual(want);
    expect(res.warmFrom).toBe(want[0]!.time);
  });

  it('from a recording that lacks the warm-up: the points it cannot warm up are left out (said), the rest equal the engine\'s', async () => {
    // A recording of 1m bars starting 7 minutes into a block of rsi5's 120 bars, as `npm run record` writes its REST answers.
    const blockMs = 120 * MIN;
    const r0 = Math.floor((end - 8 * HOUR) / blockMs) * blockMs + 7 * MIN;
    const q = `/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${r0}&endTime=${end}&limit=1000`;
    const body = await (await fetch(`${app.sim!.restUrl}${q}`)).text();
    const t = app.sim!.now();
    const lines = [{ k: 'meta', t, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' }, { k: 'rest', t, a: t, q, s: 200, b: body }];
    const recording = join(dir, 'late.jsonl.gz');
    writeFileSync(recording, gzipSync(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'));

    const warnings: string[] = [];
    const file = join(dir, 'rsi5-rec.jsonl');
    const res = await runSeriesBatch({ series: 'rsi5', seriesDir, symbol: 'BTCUSDT', interval: '1m', from: r0, to: end, out: file, format: 'jsonl', recording, restUrl: 'http://127.0.0.1:9', weightBudget: 100, onWarn: (m) => warnings.push(m) });
    // Its first block is partial, so the next one has no whole warm-up: values start two blocks in.
    const warmFrom = Math.ceil(r0 / blockMs) * blockMs + blockMs;
    const got = readLines(file);
    expect(got[0]!.time).toBe(warmFrom);
    expect(got).toEqual(await engine('rsi5', end, (end - warmFrom) / MIN + 1));
    expect(res.warmFrom).toBe(warmFrom);
    expect(warnings).toEqual([expect.stringContaining(`the points before ${new Date(warmFrom).toISOString()} are left out`)]);
  });

  it('a usage error (no whole bar between --from and --to) still names --to', async () => {
    const err = await runSeriesBatch({ series: 'counter', seriesDir, symbol: 'BTCUSDT', interval: '1m', from: end + 1, to: end + 2, out: join(dir, 'none.jsonl'), format: 'jsonl', restUrl: app.sim!.restUrl, weightBudget: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchUsageError);
    expect((err as BatchUsageError).flag).toBe('to');
    expect(leftovers(dir)).toEqual([]);
  });
});
