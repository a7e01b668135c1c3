import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { filter, map, pipe, scan } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { bollingerBands, macd, resample, rsi, sma, vwap } from '../../../engine/src/operators/index.ts';
import { intervalMs } from '../../../engine/src/domain/interval.ts';
import { defineSeries, type SeriesDefinition } from '../../../engine/src/series/define-series.ts';
import { checkForming, formingProblem } from '../../../engine/src/series/forming-check.ts';
import { loadSeriesModules } from '../../../engine/src/series/load-series.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { emaCross } from '../../helpers/docs-ema-cross.ts';

/**
 * The forming/closed contract checked at load: an operator whose closed values depend on the forming
 * updates fed before (state kept on every bar) showed live values that ranges, the CLI, replays and
 * restarts never reproduce, and only the docs said so (a quant review).
 */
const series = (operator: SeriesDefinition['operator'], extra: Partial<SeriesDefinition> = {}) =>
  defineSeries({ name: 'probe', pane: 'oscillator', params: {}, warmup: 50, operator, ...extra } as SeriesDefinition);

/** Volume summed over every update, forming ones too: the documented mistake. */
const cumulativeVolume = () =>
  pipe(
    scan((acc: { sum: number; bar?: Bar }, b: Bar) => ({ sum: acc.sum + b.volume, bar: b }), { sum: 0 }),
    map(({ sum, bar }) => ({ time: bar!.openTime, value: sum, closed: bar!.closed })),
  );
const WALK = /\(the check's own bars: 1m, from 2024-01-01T00:00:00\.000Z, prices near 100; default parameters\)$/;

describe('formingProblem', () => {
  it('finds closed values that depend on forming updates, naming the first bar, both values and the walk', () => {
    const problem = formingProblem(series(cumulativeVolume));
    expect(problem).toMatch(/^with closed bars alone its closed point at 2024-01-01T00:00:00\.000Z is [\d.]+; with each bar's forming updates fed first it is [\d.]+\. Closed values must come from closed bars alone, each sent once .*filter\(\(b\) => b\.closed\).*formingAware \(docs\/operators\.md §4\) /);
    expect(problem).toMatch(WALK);
    // The same state on closed bars alone keeps the contract.
    const fixed = series(() =>
      pipe(
        filter((b: Bar) => b.closed),
        scan((acc: { sum: number; t: number }, b: Bar) => ({ sum: acc.sum + b.volume, t: b.openTime }), { sum: 0, t: 0 }),
        map(({ sum, t }) => ({ time: t, value: sum, closed: true })),
      ),
    );
    expect(formingProblem(fixed)).toBeUndefined();
  });

  it('finds an EMA updated by every forming close (a hand-written one)', () => {
    const handEma = series(() =>
      pipe(
        scan((acc: { v?: number; bar?: Bar }, b: Bar) => ({ v: acc.v === undefined ? b.close : acc.v + (2 / 11) * (b.close - acc.v), bar: b }), {}),
        map(({ v, bar }) => ({ time: bar!.openTime, value: v!, closed: bar!.closed })),
      ),
    );
    expect(formingProblem(handEma)).toMatch(/is [\d.]+; with each bar's forming updates fed first it is [\d.]+\./);
  });

  // What a review found passing (each case fails on the check before it).
  it('finds closed points sent for forming bars (a repaint), even when the last one is right', () => {
    const closedAlways = series(() => map((b: Bar) => ({ time: b.openTime, value: b.close, closed: true })));
    expect(formingProblem(closedAlways)).toMatch(/closed point at 2024-01-01T00:00:00\.000Z is [\d.]+; with each bar's forming updates fed first it is [\d.]+, then [\d.]+, then [\d.]+\./);
  });

  it('finds a running sum that takes a forming bar back off (its rounding differs from the closed bars\' sum)', () => {
    const incremental = series(() => {
      let sum = 0;
      let last: Bar | undefined;
      return map((b: Bar) => {
        if (last?.openTime === b.openTime) sum -= last.close;
        sum += b.close;
        last = b;
        return { time: b.openTime, value: sum, closed: b.closed };
      });
    });
    expect(formingProblem(incremental)).toMatch(/; with each bar's forming updates fed first it is/);
  });

  it('finds values that two runs over the same bars do not agree on: randomness, state at module scope', () => {
    expect(formingProblem(series(() => map((b: Bar) => ({ time: b.openTime, value: b.close + Math.random(), closed: b.closed }))))).toMatch(
      /^two runs over the same closed bars disagree: its closed point at 2024-01-01T00:00:00\.000Z is [\d.]+ in one and [\d.]+ in the other\. Values must follow from the bars alone: not from Math\.random, the clock, or state kept outside the operator/,
    );
    let previous = 0; // at module scope: every instance shares it
    const shared = series(() =>
      pipe(
        filter((b: Bar) => b.closed),
        map((b: Bar) => {
          const value = b.close - previous;
          previous = b.close;
          return { time: b.openTime, value, closed: true };
        }),
      ),
    );
    expect(formingProblem(shared)).toMatch(/^two runs over the same closed bars disagree/);
  });

  it('keeps a difference seen before the operator throws, and checks on an interval its warm-up fits', () => {
    const leakThenThrow = series(() => pipe(cumulativeVolume(), map((p) => {
      if (p.time >= Date.UTC(2024, 0, 1, 2)) throw new Error('guard');
      return p;
    })));
    expect(formingProblem(leakThenThrow)).toMatch(/closed point at 2024-01-01T00:00:00\.000Z/);
    // A week of warm-up: over the cap on 1m (10,080 bars), so the check runs on 3m (3,360: the finest it fits), as the engine would.
    const weekly = series(cumulativeVolume, { warmup: ((_p: unknown, iv: string) => Math.ceil((7 * 86_400_000) / intervalMs(iv))) as never });
    expect(formingProblem(weekly)).toMatch(/\(the check's own bars: 3m,/);
    const leakyOn4h = series(cumulativeVolume, { interval: '4h' });
    expect(formingProblem(leakyOn4h)).toMatch(/\(the check's own bars: 4h,/);
  });

  it("passes the built-in operators, a kernel with formingAware, a resampling series and the docs' examples", () => {
    const ok: Array<[string, SeriesDefinition]> = [
      ['rsi', series(() => rsi({ period: 14 }))],
      ['sma', series(() => sma({ period: 20 }))],
      ['macd', series(() => macd({ fastPeriod: 12, slowPeriod: 26, signalPeriod: 9 }) as never)],
      ['bollinger', series(() => bollingerBands({ period: 20, stdDev: 2 }) as never)],
      ['vwap', series(() => vwap({}) as never)],
      ["kernel (the docs' emaCross)", series(() => emaCross())],
      ['resample 45m → rsi', series(() => pipe(resample('45m', { sourceInterval: '1m' }), rsi({ period: 14 })), { warmup: 14 * 45 + 45 })],
      ['bodySize', series(() => pipe(filter((b: Bar) => b.closed), map((b) => ({ time: b.openTime, value: Math.abs(b.close - b.open), closed: true }))))],
      ['per bar, forming previews', series(() => map((b: Bar) => ({ time: b.openTime, value: b.close - b.open, closed: b.closed })))],
    ];
    for (const [name, def] of ok) {
      const seen = checkForming(def);
      // Compared, not skipped: every bar of the walk fed (warm-up + 200), a closed point for each past the warm-up (45m buckets: a few).
      expect(seen, name).toEqual({ bars: (def.warmup as number) + 200, closedPoints: expect.any(Number) });
      expect(seen.closedPoints, name).toBeGreaterThan(name.startsWith('resample') ? 3 : 200);
    }
  });

  it('leaves an operator that throws at once to the live path (which names the bar)', () => {
    expect(checkForming(series(() => map(() => { throw new Error('boom'); })))).toEqual({ bars: 0, closedPoints: 0 });
  });
});

describe('loadSeriesModules refuses a module that breaks the contract, naming the file', () => {
  let dir = '';
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));
  const defineUrl = resolve('engine/src/series/define-series.ts');
  /** Cumulative volume kept on every bar, forming ones too: the documented mistake. */
  const cumvol = `import { defineSeries } from ${JSON.stringify(defineUrl)};
import { map, scan } from 'rxjs';
export default defineSeries({ name: 'cumvol', pane: 'oscillator', params: {}, warmup: 10,
  operator: () => (src) => src.pipe(scan((a, b) => ({ sum: a.sum + b.volume, b }), { sum: 0, b: undefined }), map(({ sum, b }) => ({ time: b.openTime, value: sum, closed: b.closed }))) });
`;

  it('at load, in the probe process, before the engine runs it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'series-forming-'));
    writeFileSync(join(dir, 'cumvol.ts'), cumvol);
    await expect(loadSeriesModules(dir)).rejects.toThrow(/series module .*cumvol\.ts breaks the forming\/closed contract: with closed bars alone its closed point at 2024-01-01T00:00:00\.000Z is [\d.]+; with each bar's forming updates fed first it is [\d.]+\./);
  });

  it('says an operator that loops on a bar loops there, not at import (the probe stops it)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'series-forming-'));
    writeFileSync(
      join(dir, 'spin.ts'),
      `import { defineSeries } from ${JSON.stringify(defineUrl)};
import { map } from 'rxjs';
export default defineSeries({ name: 'spin', pane: 'oscillator', params: {}, warmup: 0,
  operator: () => map((b) => { if (b.openTime > 1704067200000 + 5 * 60000) for (;;) {} return { time: b.openTime, value: 1, closed: b.closed }; }) });
`,
    );
    await expect(loadSeriesModules(dir, { timeoutMs: 3000, checkBudgetMs: 2000 })).rejects.toThrow(/series module .*spin\.ts did not finish its forming\/closed check within 5 s: its operator loops on a bar/);
  });

  it('stops `npm start` with that message alone (no stack), exit 2', () => {
    dir = mkdtempSync(join(tmpdir(), 'series-forming-'));
    writeFileSync(join(dir, 'cumvol.ts'), cumvol);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], { env: childEnv({ SOURCE: 'sim', PORT: '0', SERIES_DIR: dir }), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^series module .*cumvol\.ts breaks the forming\/closed contract: with closed bars alone its closed point at 2024-01-01T00:00:00\.000Z is [\d.]+;/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('loads the shipped series', async () => {
    expect((await loadSeriesModules('series')).map((d) => d.name).sort()).toEqual(['ema-cross', 'rsi', 'session-vwap']);
  });
});
