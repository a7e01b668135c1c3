import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentSeries } from '../../../engine/src/pipeline/silent-series.ts';

describe('silentSeries', () => {
  it("names each silent stream's series and the custom intervals built from it, nothing else", () => {
    const customOf = (symbol: string) => [
      { id: seriesId(symbol, '45m'), source: seriesId(symbol, '15m') },
      { id: seriesId(symbol, '10m'), source: seriesId(symbol, '5m') },
    ];
    const keys = silentSeries(['btcusdt@kline_15m', 'ethusdt@kline_1m', 'btcusdt@trade'], customOf).map((id) => id.key);
    expect(keys).toEqual(['BTCUSDT:15m', 'BTCUSDT:45m', 'ETHUSDT:1m']);
    expect(silentSeries([], customOf)).toEqual([]);
  });
});
