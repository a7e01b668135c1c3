import { describe, expect, it } from 'vitest';
import { parseEngineMessage } from '../../../client/src/feed/messages.ts';

const candle = { time: 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, is_closed: false };

describe('parseEngineMessage', () => {
  it('parses the four message types', () => {
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
    expect(parseEngineMessage('{"type":"error","message":"unknown symbol"}')).toEqual({ type: 'error', message: 'unknown symbol' });
  });

  it.each([
    ['not json', '{'],
    ['unknown type', '{"type":"nope"}'],
    ['string numbers', JSON.stringify({ type: 'live_candle', symbol: 'X', interval: '1m', ...candle, close: '1.5' })],
    ['a bad candle in history', JSON.stringify({ type: 'historical', symbol: 'X', interval: '1m', data: [candle, { time: 1 }] })],
    ['bad status', '{"type":"status","upstream":"maybe"}'],
  ])('ignores %s', (_name, text) => {
    expect(parseEngineMessage(text)).toBeUndefined();
  });
});
