import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { formatUrlState, type IndicatorConfig, parseToken, parseUrlState, type UrlState } from '../../client/src/url-state.ts';

describe('view state in the URL', () => {
  it('reads indicator parameters, colours and visibility, and derived series with theirs', () => {
    const s = parseUrlState('?symbol=ethusdt&interval=5m&ind=MA(5;10;30)~f0b90b;2962ff,RSI(21),!BOLL&series=rsi:period=21~ff0000,!ema-cross&type=area&scale=log');
    expect(s).toMatchObject({ symbol: 'ETHUSDT', interval: '5m', type: 'area', scale: 'log' });
    expect(s.indicators).toEqual([{ name: 'MA', params: [5, 10, 30], colors: ['#f0b90b', '#2962ff'] }, { name: 'RSI', params: [21] }, { name: 'BOLL', hidden: true }]);
    expect(s.series).toEqual([{ name: 'rsi:period=21', colors: ['#ff0000'] }, { name: 'ema-cross', hidden: true }]);
  });

  it('drops what it cannot read and falls back to the defaults', () => {
    const s = parseUrlState('?ind=MA(5;x),RSI((,OK&type=pie&scale=sqrt');
    expect(s.indicators).toEqual([{ name: 'OK' }]);
    expect(s).toMatchObject({ symbol: 'BTCUSDT', interval: '1m', type: 'candles', scale: 'linear', theme: 'dark' });
    expect(parseToken('RSI(14)~nothex', true)).toEqual({ name: 'RSI', params: [14] });
    // A derived series named twice (a hand-edited link): once, the first (the engine refuses a request naming one twice).
    expect(parseUrlState('?series=rsi~ff0000,ema-cross,rsi').series).toEqual([{ name: 'rsi', colors: ['#ff0000'] }, { name: 'ema-cross' }]);
  });

  it('reads as many derived series as a socket may ask for (16), and 8 chart indicators', () => {
    const series = Array.from({ length: 20 }, (_, i) => `s${i}`);
    expect(parseUrlState(`?series=${series.join(',')}`).series.map((c) => c.name)).toEqual(series.slice(0, 16));
    expect(parseUrlState(`?ind=${series.join(',')}`).indicators).toHaveLength(8);
  });

  it('writes readable links', () => {
    const q = formatUrlState({ symbol: 'BTCUSDT', interval: '1m', indicators: [{ name: 'RSI', params: [21, 12, 24] }], series: [{ name: 'rsi:period=21', colors: ['#ff0000'] }], theme: 'dark', type: 'candles', scale: 'linear' });
    expect(q).toBe('symbol=BTCUSDT&interval=1m&ind=RSI(21;12;24)&series=rsi:period=21~ff0000');
  });

  const arbConfig = (withParams: boolean) =>
    fc.record(
      {
        name: withParams ? fc.constantFrom('MA', 'EMA', 'BOLL', 'MACD', 'RSI') : fc.constantFrom('rsi', 'rsi:period=21', 'ema-cross:fast=5;slow=30', 'session-vwap:anchor=1d'),
        params: fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 4 }),
        colors: fc.array(fc.integer({ min: 0, max: 0xffffff }).map((n) => `#${n.toString(16).padStart(6, '0')}`), { minLength: 1, maxLength: 3 }),
        hidden: fc.constant(true),
      },
      { requiredKeys: ['name'] },
    ).map((c): IndicatorConfig => (withParams ? c : (({ params: _p, ...rest }) => rest)(c)));

  test.prop([fc.array(arbConfig(true), { maxLength: 5 }), fc.uniqueArray(arbConfig(false), { maxLength: 4, selector: (c) => c.name }), fc.constantFrom('candles', 'hollow', 'bars', 'line', 'area'), fc.constantFrom('linear', 'log', 'percent')])(
    'a shared link reproduces the view it was written from',
    (indicators, series, type, scale) => {
      const state = { symbol: 'SOLUSDT', interval: '15m', indicators, series, theme: 'light', type, scale } as UrlState;
      expect(parseUrlState(`?${formatUrlState(state)}`)).toEqual(state);
    },
  );
});
