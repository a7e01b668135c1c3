import { describe, expect, it } from 'vitest';
import { customSource, sourceAmong, sourceIntervalFor, sourceRatio } from '../../../engine/src/pipeline/custom-intervals.ts';
import { SeriesCatalog } from '../../../engine/src/pipeline/series-catalog.ts';

describe('sourceIntervalFor', () => {
  it.each([
    ['2m', '1m'],
    ['10m', '5m'],
    ['45m', '15m'],
    ['90m', '30m'],
    ['3h', '1h'],
    ['24h', '1d'],
    ['2d', '1d'],
    ['6d', '3d'],
    ['2w', '1w'],
    ['3M', '1M'],
    ['7m', '1m'],
  ])('%s is built from %s', (custom, source) => {
    expect(sourceIntervalFor(custom)).toBe(source);
  });

  it('gives the ratio of source bars per custom bar', () => {
    expect(sourceRatio('45m', '15m')).toBe(3);
    expect(sourceRatio('2d', '1d')).toBe(2);
  });

  it('refuses native intervals', () => {
    expect(() => sourceIntervalFor('1h')).toThrow(/native/);
  });
});

describe('customSource (what the engine computes a custom interval from)', () => {
  it.each([
    // A configured interval that tiles it: no stream of its own.
    ['10m', ['1m'], 1000, '1m'],
    ['10m', ['1m', '5m'], 1000, '5m'],
    ['45m', ['1m', '5m', '1h'], 1000, '5m'],
    ['3h', ['1m', '1h'], 1000, '1h'],
    // 1,000 bars of 2d history would be 2.9 M 1m bars: the coarsest Binance interval instead.
    ['2d', ['1m'], 1000, '1d'],
    ['90m', ['1m'], 1000, '30m'],
    ['90m', ['1m'], 500, '1m'],
    // Nothing configured tiles it (5m does not tile 2m).
    ['2m', ['5m'], 1000, '1m'],
  ])('%s with %j configured (BUFFER_SIZE %d): from %s', (custom, configured, bufferSize, source) => {
    expect(customSource(custom, configured, bufferSize)).toBe(source);
  });

  it('sourceAmong: the coarsest available interval that builds a target, native targets included', () => {
    expect(sourceAmong('1h', ['1m', '5m'])).toBe('5m');
    expect(sourceAmong('5m', ['1m', '5m'])).toBe('5m');
    expect(sourceAmong('1w', ['1m', '5m'])).toBeUndefined();
  });

  it('the catalog streams configured intervals plus only the sources they lack', () => {
    expect(new SeriesCatalog(['BTCUSDT'], ['1m', '10m', '45m'], 'sim', 1000).streamedIntervals().sort()).toEqual(['1m']);
    expect(new SeriesCatalog(['BTCUSDT'], ['1m', '10m', '2d'], 'sim', 1000).streamedIntervals().sort()).toEqual(['1d', '1m']);
    expect(new SeriesCatalog(['BTCUSDT'], ['1m', '2d'], 'sim', 1000).customSeries().map((c) => c.source.key)).toEqual(['BTCUSDT:1d']);
  });
});
