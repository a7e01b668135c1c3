import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { filter, map, pipe, scan } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { bollingerBands, macd, resample, rsi, sma, vwap } from '../../../engine/src/operators/index.ts';
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

describe('formingProblem', () => {
  it('finds closed values that depend on forming updates, naming the first bar and both values', () => {
    const leaky = series(() =>
      pipe(
        scan((acc: { sum: number; bar?: Bar }, b: Bar) => ({ sum: acc.sum + b.volume, bar: b }), { sum: 0 }),
        map(({ sum, bar }) => ({ time: bar!.openTime, value: sum, closed: bar!.closed })),
      ),
    );
    expect(formingProblem(leaky)).toMatch(
      /^its closed point at 2024-01-01T00:00:00\.000Z is \d+ when fed closed bars alone and \d+ when each bar's forming updates come first\. Closed values must come from closed bars alone .*filter\(\(b\) => b\.closed\).*formingAware \(docs\/operators\.md §4\)$/,
    );
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
    expect(formingProblem(handEma)).toMatch(/is [\d.]+ when fed closed bars alone and [\d.]+ when each bar's forming updates come first/);
  });

  it("passes the built-in operators, a kernel with formingAware, a resampling series and the docs' examples", () => {
    const ok: Array<[string, SeriesDefinition]> = [
      ['rsi', series(() => rsi({ period: 14 }))],
      ['sma', series(() => sma({ period: 20 }))],
      ['macd', series(() => macd({ fastPeriod: 12, slowPeriod: 26, signalPeriod: 9 }) as never)],
      ['bollinger', series(() => bollingerBands({ period: 20, stdDev: 2 }) as never)],
      ['vwap', series(() => vwap({}) as never)],
      ['kernel (the docs\' emaCross)', series(() => emaCross())],
      ['resample 45m → rsi', series(() => pipe(resample('45m', { sourceInterval: '1m' }), rsi({ period: 14 })), { warmup: 14 * 45 + 45 })],
      ['bodySize', series(() => pipe(filter((b: Bar) => b.closed), map((b) => ({ time: b.openTime, value: Math.abs(b.close - b.open), closed: true }))))],
      ['per bar, forming previews', series(() => map((b: Bar) => ({ time: b.openTime, value: b.close - b.open, closed: b.closed })))],
    ];
    for (const [name, def] of ok) {
      const seen = checkForming(def);
      // Compared, not skipped: every bar past the warm-up gave a closed point on both sides (45m buckets: a few).
      expect(seen, name).toEqual({ closedPoints: expect.any(Number), failed: false });
      expect(seen.closedPoints, name).toBeGreaterThan(name.startsWith('resample') ? 3 : 200);
    }
  });

  it('leaves an operator that throws to the live path (which names the bar), and checks on a pinned interval', () => {
    expect(checkForming(series(() => map(() => { throw new Error('boom'); })))).toEqual({ closedPoints: 0, failed: true });
    const leakyOn4h = series(
      () => pipe(scan((acc: { sum: number; bar?: Bar }, b: Bar) => ({ sum: acc.sum + b.volume, bar: b }), { sum: 0 }), map(({ sum, bar }) => ({ time: bar!.openTime, value: sum, closed: bar!.closed }))),
      { interval: '4h' },
    );
    expect(formingProblem(leakyOn4h)).toMatch(/closed point at 2024-01-01T00:00:00\.000Z/);
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
    await expect(loadSeriesModules(dir)).rejects.toThrow(/series module .*cumvol\.ts breaks the forming\/closed contract: its closed point at 2024-01-01T00:00:00\.000Z is \d+ when fed closed bars alone and \d+ when/);
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
    await expect(loadSeriesModules(dir, { timeoutMs: 3000 })).rejects.toThrow(/series module .*spin\.ts did not finish its forming\/closed check within 3 s: its operator loops on a bar/);
  });

  it('stops `npm start` with that message alone (no stack), exit 2', () => {
    dir = mkdtempSync(join(tmpdir(), 'series-forming-'));
    writeFileSync(join(dir, 'cumvol.ts'), cumvol);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], { env: childEnv({ SOURCE: 'sim', PORT: '0', SERIES_DIR: dir }), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^series module .*cumvol\.ts breaks the forming\/closed contract: its closed point at 2024-01-01T00:00:00\.000Z is \d+ when/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('loads the shipped series', async () => {
    expect((await loadSeriesModules('series')).map((d) => d.name).sort()).toEqual(['ema-cross', 'rsi', 'session-vwap']);
  });
});
