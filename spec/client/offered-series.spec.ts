import { describe, expect, it } from 'vitest';
import { toSeriesDef } from '../../client/src/api.ts';
import type { SeriesDef } from '../../client/src/feed/wire.ts';
import { droppedNotice, offeredSeries, seriesToggle } from '../../client/src/offered-series.ts';
import { refusedSeriesName } from '../../client/src/feed/refused-series.ts';

const defs: SeriesDef[] = [
  toSeriesDef({ name: 'rsi', pane: 'oscillator', params: { period: 14 }, ranges: { period: { min: 2, max: 200 } } })!,
  toSeriesDef({ name: 'ema-cross', pane: 'overlay', params: { fast: 9, k: 2.5, source: 'close', log: false }, ranges: { k: { min: 0.5 }, source: { options: ['open', 'close'] } } })!,
  toSeriesDef({ name: 'daily-pivot', pane: 'overlay', interval: '1h', params: {} })!,
];
const labels = (xs: Array<{ name: string }>) => xs.map((x) => x.name);

describe('offeredSeries: the view keeps only series the engine takes', () => {
  it('keeps offered series with valid parameters, colours and all', () => {
    const series = [{ name: 'rsi', colors: ['#ff0000'] }, { name: 'rsi:period=21' }, { name: 'ema-cross:fast=5;k=0.75;source=open;log=true' }, { name: 'daily-pivot' }];
    expect(offeredSeries(series, defs)).toEqual({ kept: series, dropped: [] });
  });

  it('drops a name the engine does not offer, and says so', () => {
    const { kept, dropped } = offeredSeries([{ name: 'nope' }, { name: 'rsi' }], defs);
    expect(labels(kept)).toEqual(['rsi']);
    expect(dropped).toEqual([{ label: 'nope', reason: "series 'nope' is not offered by this engine" }]);
    expect(droppedNotice(dropped)).toBe("series 'nope' is not offered by this engine: removed from the view");
  });

  it('drops parameters out of range, of the wrong type, unknown or repeated', () => {
    const bad = ['rsi:period=99999', 'rsi:period=1', 'rsi:period=14.5', 'rsi:period=abc', 'rsi:period=1e2', 'rsi:length=3', 'rsi:period=3;period=4', 'ema-cross:k=0.1', 'ema-cross:source=high', 'ema-cross:log=yes'];
    const { kept, dropped } = offeredSeries(bad.map((name) => ({ name })), defs);
    expect(kept).toEqual([]);
    expect(labels(dropped.map((d) => ({ name: d.label })))).toEqual(bad);
    expect(dropped[0]!.reason).toBe("series 'rsi': parameter 'period' must be 2 to 200");
  });

  it('keeps 16 and drops the rest (the engine refuses a socket asking for more, whole)', () => {
    const many = Array.from({ length: 18 }, (_, i) => ({ name: `rsi:period=${i + 2}` }));
    const { kept, dropped } = offeredSeries(many, defs);
    expect(labels(kept)).toEqual(labels(many.slice(0, 16)));
    expect(dropped).toEqual([
      { label: 'rsi:period=18', reason: "at most 16 derived series at once: 'rsi:period=18'" },
      { label: 'rsi:period=19', reason: "at most 16 derived series at once: 'rsi:period=19'" },
    ]);
  });

  it('lets the menu turn a series on only when offered here and with room under 16, and always off', () => {
    expect(seriesToggle(false, true, 15)).toEqual({ disabled: false });
    expect(seriesToggle(false, true, 16)).toEqual({ disabled: true, why: 'at most 16 derived series at once: turn one off first' });
    expect(seriesToggle(false, false, 0)).toEqual({ disabled: true });
    expect(seriesToggle(true, false, 16)).toEqual({ disabled: false });
  });

  it('drops a second copy of the same label (the engine refuses a series asked twice)', () => {
    const { kept, dropped } = offeredSeries([{ name: 'rsi' }, { name: 'rsi' }], defs);
    expect(labels(kept)).toEqual(['rsi']);
    expect(dropped).toHaveLength(1);
  });

  it('says nothing when nothing was dropped', () => {
    expect(droppedNotice([])).toBeUndefined();
  });
});

describe('refusedSeriesName: a socket refused for one of its series', () => {
  const asked = ['nope', 'rsi:period=99999', 'ema-cross'];
  it('takes the series a bad_series refusal names, by its name whatever its parameters', () => {
    expect(refusedSeriesName({ code: 'bad_series', series: 'nope' }, asked)).toBe('nope');
    expect(refusedSeriesName({ code: 'bad_series', series: 'rsi' }, asked)).toBe('rsi');
    expect(refusedSeriesName({ code: 'bad_series', series: 'ema-cross' }, asked)).toBe('ema-cross');
  });

  it('names no series the socket did not ask for, none for a refusal naming none, and none for another code', () => {
    expect(refusedSeriesName({ code: 'bad_series', series: 'other' }, asked)).toBeUndefined();
    expect(refusedSeriesName({ code: 'bad_series' }, asked)).toBeUndefined();
    expect(refusedSeriesName({ code: 'symbol_not_trading', series: 'nope' }, asked)).toBeUndefined();
    // The wording alone is no longer read: an engine says which series with its code.
    expect(refusedSeriesName({}, asked)).toBeUndefined();
  });
});
