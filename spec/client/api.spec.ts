import { afterEach, describe, expect, it, vi } from 'vitest';
import { canonicalSeriesLabel, fetchSeriesPoints, seriesLabel, seriesOffered, splitSeriesLabel, toSeriesDef } from '../../client/src/api.ts';
import { checkNumber } from '../../client/src/settings/param-field.ts';

describe('series catalog as GET /series gives it', () => {
  it('reads bare defaults and declared ranges alike', () => {
    expect(toSeriesDef({ name: 'rsi', description: 'RSI', pane: 'oscillator', params: { period: 14 } })!.params).toEqual([{ name: 'period', default: 14, type: 'number', integer: true }]);
    // The engine's shape: defaults in params, what a client may set in ranges.
    expect(toSeriesDef({ name: 'ema-cross', pane: 'overlay', params: { fast: 9, k: 2.5 }, ranges: { fast: { min: 1, max: 500 }, k: { min: 0.5 } } })!.params).toEqual([
      { name: 'fast', default: 9, type: 'number', min: 1, max: 500, integer: true },
      { name: 'k', default: 2.5, type: 'number', min: 0.5 },
    ]);
    // A definition has no state of its own (its instances do: `GET /series`' `instances`): fields it does not declare are left out.
    expect(toSeriesDef({ name: 'rsi', pane: 'oscillator', params: { period: { default: 14, min: 2, max: 200, integer: true } }, state: 'failed', error: 'x' })).toEqual({
      name: 'rsi',
      description: '',
      pane: 'oscillator',
      plot: null,
      params: [{ name: 'period', default: 14, type: 'number', min: 2, max: 200, integer: true }],
    });
    expect(toSeriesDef({ name: 'ema-cross', pane: 'overlay', plot: ['fast', 'slow'], params: [{ name: 'fast', default: 9, min: 1 }, { name: 'bad' }] })!.params).toEqual([{ name: 'fast', default: 9, type: 'number', min: 1 }]);
    expect(toSeriesDef({ pane: 'overlay' })).toBeUndefined();
  });

  it('offers a definition pinned to an interval on that interval alone (the engine refuses it on the others)', () => {
    // /series gives `interval: null` for one computed on every interval.
    const any = toSeriesDef({ name: 'rsi', pane: 'oscillator', interval: null, params: { period: 14 } })!;
    const pinned = toSeriesDef({ name: 'daily-pivot', pane: 'overlay', interval: '1h', params: {} })!;
    expect(pinned.interval).toBe('1h');
    expect(['1m', '1h', '1d'].map((i) => seriesOffered(any, i))).toEqual([true, true, true]);
    expect(['1m', '1h', '1d'].map((i) => seriesOffered(pinned, i))).toEqual([false, true, false]);
  });

  it('labels a series by the parameters that differ from the defaults', () => {
    const def = toSeriesDef({ name: 'ema-cross', pane: 'overlay', params: { fast: 9, slow: 21 } })!;
    expect(seriesLabel(def, { fast: 9, slow: 21 })).toBe('ema-cross');
    expect(seriesLabel(def, { fast: 5, slow: 21 })).toBe('ema-cross:fast=5');
    // Keys in name order, as the engine labels instances (its messages are keyed by that label).
    const zeta = toSeriesDef({ name: 'z', pane: 'overlay', params: { slow: 21, fast: 9 } })!;
    expect(seriesLabel(zeta, { slow: 30, fast: 5 })).toBe('z:fast=5;slow=30');
    expect(splitSeriesLabel('ema-cross:fast=5;slow=30')).toEqual({ name: 'ema-cross', params: [['fast', '5'], ['slow', '30']] });
  });

  it("spells a link's label as the engine does: defaults left out, parameters in name order; unknown ones as written", () => {
    const defs = [toSeriesDef({ name: 'rsi', pane: 'oscillator', params: { period: 14 } })!, toSeriesDef({ name: 'ema-cross', pane: 'overlay', params: { fast: 9, slow: 21 } })!];
    expect(canonicalSeriesLabel('rsi:period=14', defs)).toBe('rsi');
    expect(canonicalSeriesLabel('rsi:period=21', defs)).toBe('rsi:period=21');
    expect(canonicalSeriesLabel('ema-cross:slow=30;fast=9', defs)).toBe('ema-cross:slow=30');
    expect(canonicalSeriesLabel('ema-cross:slow=30;fast=5', defs)).toBe('ema-cross:fast=5;slow=30');
    expect(canonicalSeriesLabel('rsi:weird=1', defs)).toBe('rsi:weird=1');
    expect(canonicalSeriesLabel('rsi:period=abc', defs)).toBe('rsi:period=abc');
    expect(canonicalSeriesLabel('other:period=14', defs)).toBe('other:period=14');
  });

  it('refuses parameters outside their declared range', () => {
    const f = { key: 'period', label: 'period', value: 14, min: 2, max: 200, integer: true };
    expect(checkNumber(f, '21')).toBe(21);
    expect(checkNumber(f, '1')).toBeUndefined();
    expect(checkNumber(f, '2.5')).toBeUndefined();
    expect(checkNumber(f, '')).toBeUndefined();
    expect(checkNumber(f, '201')).toBeUndefined();
  });
});

describe('fetchPolitely', () => {
  it('waits out a 429 with Retry-After and tries again, a bounded number of times', async () => {
    const { fetchPolitely } = await import('../../client/src/api.ts');
    const answers = [429, 503, 200];
    const waits: number[] = [];
    const real = globalThis.fetch;
    globalThis.fetch = (async () => new Response('{}', { status: answers.shift() ?? 429, headers: { 'retry-after': '2' } })) as typeof fetch;
    try {
      expect((await fetchPolitely('/candles/x', async (ms) => void waits.push(ms))).status).toBe(200);
      expect(waits).toHaveLength(2);
      for (const w of waits) expect(w).toBeGreaterThanOrEqual(2000);
      // Always refused: it gives up after its retries and hands back the refusal.
      expect((await fetchPolitely('/candles/x', async (ms) => void waits.push(ms))).status).toBe(429);
      expect(waits).toHaveLength(5);
    } finally {
      globalThis.fetch = real;
    }
  });
});

describe('fetchSeriesPoints', () => {
  afterEach(() => vi.unstubAllGlobals());
  const answer = (body: unknown) => vi.stubGlobal('fetch', async () => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } }));

  it('takes only points at a time a Date can hold, as the socket does (one past it broke the chart axis)', async () => {
    answer({ points: [{ time: 60_000, value: 1 }, { time: 9e15, value: 2 }, { time: 1.5, value: 3 }, { time: -60_000, value: 4 }, 'x'] });
    expect(await fetchSeriesPoints('rsi', 'BTCUSDT', '1m', 120_000, 10)).toEqual([{ time: 60_000, values: { value: 1 } }]);
  });

  it('reads an answer whose points are not a list as none (it threw)', async () => {
    answer({ points: { time: 60_000 } });
    expect(await fetchSeriesPoints('rsi', 'BTCUSDT', '1m', 120_000, 10)).toEqual([]);
  });
});
