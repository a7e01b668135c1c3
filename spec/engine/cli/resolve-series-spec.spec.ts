import { describe, expect, it } from 'vitest';
import { BatchUsageError } from '../../../engine/cli/batch-usage-error.ts';
import { pointFormatter } from '../../../engine/cli/point-format.ts';
import { resolveSeriesSpec } from '../../../engine/cli/resolve-series-spec.ts';

describe('resolveSeriesSpec', () => {
  it('resolves a name with typed parameter overrides', async () => {
    const { definition, params } = await resolveSeriesSpec('series', 'ema-cross:fast=5;slow=12', '1m');
    expect(definition.name).toBe('ema-cross');
    expect(params).toEqual({ fast: 5, slow: 12 });
  });

  it.each([
    ['nope', 'series', /unknown series 'nope'; available: ema-cross, rsi, session-vwap/],
    ['rsi:length=3', 'series', /unknown parameter 'length'/],
    ['rsi:period=abc', 'series', /parameter 'period' must be a number/],
    ['rsi:period=0', 'series', /period/],
    ['rsi:period', 'series', /must be key=value/],
    ['ema-cross:fast=30', 'series', /fast \(30\) must be below slow/],
  ])('rejects %s naming --%s', async (spec, flag, re) => {
    const err = await resolveSeriesSpec('series', spec, '1m').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchUsageError);
    expect((err as BatchUsageError).flag).toBe(flag);
    expect((err as Error).message).toMatch(re);
  });
});

describe('pointFormatter', () => {
  it('writes the CSV header with the first point, keyed by its values', () => {
    const f = pointFormatter('csv');
    expect(f.line({ time: 0, values: { a: 1, b: 2.5 }, closed: true })).toBe('time,iso,a,b\n0,1970-01-01T00:00:00.000Z,1,2.5\n');
    expect(f.line({ time: 60_000, values: { a: 3, b: Number.NaN }, closed: true })).toBe('60000,1970-01-01T00:01:00.000Z,3,\n');
    expect(f.header()).toBe('');
  });

  it('gives a CSV with no points its header, and JSON lines none', () => {
    expect(pointFormatter('csv').header()).toBe('time,iso,value\n');
    expect(pointFormatter('jsonl').header()).toBe('');
    expect(pointFormatter('jsonl').line({ time: 1, value: 2, closed: true })).toBe('{"time":1,"value":2}\n');
  });
});
