import { describe, expect, it } from 'vitest';
import { sourceIntervalFor, sourceRatio } from '../../../engine/src/pipeline/custom-intervals.ts';

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
