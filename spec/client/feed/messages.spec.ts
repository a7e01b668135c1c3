import { describe, expect, it } from 'vitest';
import { parseEngineMessage } from '../../../client/src/feed/messages.ts';

const candle = { time: 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, is_closed: false };

describe('parseEngineMessage', () => {
  it('parses every message type', () => {
    expect(parseEngineMessage(JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', data: [candle] }))).toEqual({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', data: [candle], series: {} });
    expect(
      parseEngineMessage(JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', data: [candle], series: { rsi: [{ time: 60_000, value: 55, is_closed: false }, { time: 'x' }], macd: [{ time: 60_000, values: { macd: 1, signal: 2 } }] } })),
    ).toMatchObject({ series: { rsi: [{ time: 60_000, values: { value: 55 } }], macd: [{ time: 60_000, values: { macd: 1, signal: 2 } }] } });
    expect(parseEngineMessage(JSON.stringify({ type: 'series_point', name: 'rsi', symbol: 'BTCUSDT', interval: '1m', time: 60_000, value: 42, is_closed: true }))).toEqual({
      type: 'series_point',
      name: 'rsi',
      symbol: 'BTCUSDT',
      interval: '1m',
      point: { time: 60_000, values: { value: 42 } },
    });
    expect(parseEngineMessage(JSON.stringify({ type: 'live_candle', symbol: 'BTCUSDT', interval: '1m', ...candle }))).toEqual({ type: 'live_candle', symbol: 'BTCUSDT', interval: '1m', candle });
    expect(parseEngineMessage('{"type":"status","upstream":"reconnecting","source":"sim"}')).toEqual({ type: 'status', upstream: 'reconnecting', source: 'sim' });
    // A replay that played its last frame (it was dropped as malformed: the chart never heard the end).
    expect(parseEngineMessage('{"type":"status","upstream":"ended","source":"replay"}')).toEqual({ type: 'status', upstream: 'ended', source: 'replay' });
    expect(parseEngineMessage('{"type":"error","message":"unknown symbol"}')).toEqual({ type: 'error', message: 'unknown symbol' });
  });

  it("takes a point with no number (`value: null`, as the engine sends it) as one with no values: it replaces the one drawn (reproduced: dropped, the old number stayed)", () => {
    expect(parseEngineMessage(JSON.stringify({ type: 'series_point', name: 'vwap', symbol: 'BTCUSDT', interval: '1m', time: 60_000, value: null, is_closed: true }))).toMatchObject({ point: { time: 60_000, values: {} } });
    expect(parseEngineMessage(JSON.stringify({ type: 'recovered', symbol: 'X', interval: '1m', epoch: 'e1', offset: 50, data: [candle], series: { vwap: [{ time: 60_000, value: null }] } }))).toMatchObject({ series: { vwap: [{ time: 60_000, values: {} }] } });
    // Still refused: a value that is neither a number nor null.
    expect(parseEngineMessage(JSON.stringify({ type: 'series_point', name: 'vwap', symbol: 'BTCUSDT', interval: '1m', time: 60_000, value: 'x', is_closed: true }))).toBeUndefined();
  });

  it('parses the positions, resume, on-demand and series-status additions', () => {
    expect(parseEngineMessage(JSON.stringify({ type: 'historical', symbol: 'X', interval: '1m', data: [candle], epoch: 'e1', offset: 41, recovered: false, seriesStatus: { rsi: { state: 'failed', error: 'boom' }, bad: 3 } }))).toMatchObject({
      position: { epoch: 'e1', offset: 41 },
      recovered: false,
      seriesStatus: { rsi: { state: 'failed', error: 'boom' } },
    });
    expect(parseEngineMessage(JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, epoch: 'e1', offset: 42 }))).toMatchObject({ position: { epoch: 'e1', offset: 42 } });
    // The engine's send time, when it is a number.
    expect(parseEngineMessage(JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, at: 1_700_000_000_123 }))).toMatchObject({ at: 1_700_000_000_123 });
    expect(parseEngineMessage(JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, at: '1' }))).not.toHaveProperty('at');
    expect(parseEngineMessage(JSON.stringify({ type: 'recovered', symbol: 'X', interval: '1m', epoch: 'e1', offset: 50, data: [candle] }))).toEqual({ type: 'recovered', symbol: 'X', interval: '1m', data: [candle], position: { epoch: 'e1', offset: 50 }, series: {}, seriesStatus: {} });
    expect(parseEngineMessage(JSON.stringify({ type: 'recovered', symbol: 'X', interval: '1m', epoch: 'e1', offset: 50, data: [candle], series: { rsi: [{ time: 60_000, value: 3 }] } }))).toMatchObject({ series: { rsi: [{ time: 60_000, values: { value: 3 } }] } });
    // A resume says which of its series failed meanwhile, as historical does (it said nothing: a review).
    expect(parseEngineMessage(JSON.stringify({ type: 'recovered', symbol: 'X', interval: '1m', epoch: 'e1', offset: 50, data: [candle], series: { rsi: [] }, seriesStatus: { rsi: { state: 'failed', error: 'boom' }, bad: 3 } }))).toMatchObject({
      seriesStatus: { rsi: { state: 'failed', error: 'boom' } },
    });
    expect(parseEngineMessage('{"type":"loading","symbol":"PEPEUSDT","interval":"1m"}')).toEqual({ type: 'loading', symbol: 'PEPEUSDT', interval: '1m' });
    expect(parseEngineMessage('{"type":"series_status","name":"rsi","symbol":"X","interval":"1m","state":"failed","error":"period"}')).toEqual({ type: 'series_status', name: 'rsi', symbol: 'X', interval: '1m', status: { state: 'failed', error: 'period' } });
    expect(parseEngineMessage('{"type":"error","code":"symbol_not_trading","message":"PEPEUSDT stopped trading"}')).toEqual({ type: 'error', code: 'symbol_not_trading', message: 'PEPEUSDT stopped trading' });
    // The series a bad_series refusal blames; a name longer than any the engine echoes is not one.
    expect(parseEngineMessage('{"type":"error","code":"bad_series","series":"nope","message":"unknown series"}')).toEqual({ type: 'error', code: 'bad_series', series: 'nope', message: 'unknown series' });
    expect(parseEngineMessage(JSON.stringify({ type: 'error', code: 'bad_series', series: 'x'.repeat(65), message: 'm' }))).toEqual({ type: 'error', code: 'bad_series', message: 'm' });
    // A position needs both halves, a whole offset and a bounded epoch; without one the candle still counts.
    expect(parseEngineMessage(JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, epoch: 'e1', offset: 1.5 }))).not.toHaveProperty('position');
    expect(parseEngineMessage(JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, epoch: 'x'.repeat(65), offset: 1 }))).not.toHaveProperty('position');
  });

  it("reads a refusal's wait from a retryAfterSec field or the engine's 'retry in N s' wording", () => {
    expect(parseEngineMessage('{"type":"error","code":"rate_limited","message":"too many new derived series from this address (ON_DEMAND_PER_MIN); retry in 12 s"}')).toEqual({ type: 'error', code: 'rate_limited', message: 'too many new derived series from this address (ON_DEMAND_PER_MIN); retry in 12 s', retryAfterSec: 12 });
    expect(parseEngineMessage('{"type":"error","code":"rate_limited","message":"slow down","retryAfterSec":3}')).toMatchObject({ retryAfterSec: 3 });
    expect(parseEngineMessage('{"type":"error","code":"rate_limited","message":"slow down","retryAfterSec":99999}')).not.toHaveProperty('retryAfterSec');
    expect(parseEngineMessage('{"type":"error","code":"series_capacity","message":"try again later"}')).not.toHaveProperty('retryAfterSec');
  });

  it.each([
    ['not json', '{'],
    ['unknown type', '{"type":"nope"}'],
    ['string numbers', JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, close: '1.5' })],
    ['a bad candle in history', JSON.stringify({ type: 'historical', symbol: 'X', interval: '1m', data: [candle, { time: 1 }] })],
    ['bad status', '{"type":"status","upstream":"maybe"}'],
    ['a recovered message without its position', JSON.stringify({ type: 'recovered', symbol: 'X', interval: '1m', data: [candle] })],
    ['a recovered message with a bad bar', JSON.stringify({ type: 'recovered', symbol: 'X', interval: '1m', epoch: 'e', offset: 1, data: [{ time: 1 }] })],
    ['an unknown series state', '{"type":"series_status","name":"rsi","symbol":"X","interval":"1m","state":"odd"}'],
    ['loading without its series', '{"type":"loading"}'],
    // A time no Date can hold stuck as the newest bar, and the chart's layout threw on it for good.
    ['a bar time past what a Date holds', JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, time: 9e15 })],
    ['a fractional bar time', JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, time: 60_000.5 })],
    ['a negative bar time', JSON.stringify({ type: 'historical', symbol: 'X', interval: '1m', data: [{ ...candle, time: -60_000 }] })],
  ])('ignores %s', (_name, text) => {
    expect(parseEngineMessage(text)).toBeUndefined();
  });
});

describe('parseEngineMessage bounds what it takes (a client review)', () => {
  it("tells a candles-only historical (an edge's reload) from one that says no series failed", () => {
    expect(parseEngineMessage(JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', data: [candle], recovered: false }))).not.toHaveProperty('seriesStatus');
    expect(parseEngineMessage(JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', data: [candle], series: { rsi: [] } }))).toMatchObject({ seriesStatus: {} });
  });

  it('waits at least a second when told to retry, and cuts an error to 500 characters', () => {
    const refused = parseEngineMessage(JSON.stringify({ type: 'error', code: 'rate_limited', message: 'x'.repeat(10_000), retryAfterSec: 0.001 }));
    expect(refused).toMatchObject({ type: 'error', retryAfterSec: 1 });
    expect((refused as { message: string }).message).toHaveLength(500);
    const series = parseEngineMessage(JSON.stringify({ type: 'series_status', name: 'rsi', symbol: 'BTCUSDT', interval: '1m', state: 'failed', error: 'cap', retryAfterSec: 0.001 }));
    expect(series).toMatchObject({ status: { retryAfterSec: 1 } });
  });

  it('takes a value past the largest number as no value (Infinity draws nothing)', () => {
    const point = (v: string) => parseEngineMessage(`{"type":"series_point","name":"rsi","symbol":"BTCUSDT","interval":"1m","time":60000,${v},"is_closed":false}`);
    expect(point('"value":1e999')).toMatchObject({ point: { values: {} } });
    expect(point('"values":{"a":1e999,"b":2}')).toMatchObject({ point: { values: { b: 2 } } });
    expect((point('"values":{"a":1e999,"b":2}') as { point: { values: object } }).point.values).not.toHaveProperty('a');
  });
});
