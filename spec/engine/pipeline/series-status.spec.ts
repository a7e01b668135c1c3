import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { seriesStatus } from '../../../engine/src/pipeline/series-status.ts';

const customOf = (symbol: string) => [
  { id: seriesId(symbol, '45m'), source: seriesId(symbol, '15m') },
  { id: seriesId(symbol, '10m'), source: seriesId(symbol, '5m') },
];
const said = (down: string[], silent: string[]) => seriesStatus(down, silent, customOf).map((s) => `${s.id.key} ${s.state}`);

describe('seriesStatus', () => {
  it("names each silent stream's series and the custom intervals built from it stale, nothing else", () => {
    expect(said([], ['btcusdt@kline_15m', 'ethusdt@kline_1m', 'btcusdt@trade'])).toEqual(['BTCUSDT:15m stale', 'BTCUSDT:45m stale', 'ETHUSDT:1m stale']);
    expect(said([], [])).toEqual([]);
  });

  it("names a down connection's series reconnecting, which wins over silent", () => {
    expect(said(['btcusdt@kline_15m', 'solusdt@kline_5m'], ['btcusdt@kline_15m', 'ethusdt@kline_1m'])).toEqual([
      'BTCUSDT:15m reconnecting',
      'BTCUSDT:45m reconnecting',
      'SOLUSDT:5m reconnecting',
      'SOLUSDT:10m reconnecting',
      'ETHUSDT:1m stale',
    ]);
  });
});
