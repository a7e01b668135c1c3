import { describe, expect, it } from 'vitest';
import { guessMarket, parseExchangeInfo } from '../../../engine/src/sources/exchange-info.ts';

describe('parseExchangeInfo', () => {
  it('keeps TRADING markets with base and quote, skips malformed entries and bad names', () => {
    const body = {
      timezone: 'UTC',
      symbols: [
        { symbol: 'BTCUSDT', status: 'TRADING', baseAsset: 'BTC', quoteAsset: 'USDT' },
        { symbol: 'LUNAUSDT', status: 'BREAK', baseAsset: 'LUNA', quoteAsset: 'USDT' },
        { symbol: 'ETHBTC', status: 'TRADING', baseAsset: 'ETH', quoteAsset: 'BTC' },
        { symbol: 'bad-name', status: 'TRADING', baseAsset: 'X', quoteAsset: 'Y' },
        { symbol: 'NOBASE', status: 'TRADING' },
        null,
      ],
    };
    expect(parseExchangeInfo(body)).toEqual({
      markets: [
        { symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT' },
        { symbol: 'ETHBTC', base: 'ETH', quote: 'BTC' },
      ],
      skipped: 3,
    });
  });

  it('throws on a body without a symbols array', () => {
    expect(() => parseExchangeInfo({ code: -1000 })).toThrow(/symbols array/);
    expect(() => parseExchangeInfo('x')).toThrow(TypeError);
  });

  it('guesses base and quote from a name', () => {
    expect(guessMarket('PEPEUSDT')).toEqual({ symbol: 'PEPEUSDT', base: 'PEPE', quote: 'USDT' });
    expect(guessMarket('ETHBTC')).toEqual({ symbol: 'ETHBTC', base: 'ETH', quote: 'BTC' });
    expect(guessMarket('ABCXYZ')).toEqual({ symbol: 'ABCXYZ', base: 'ABCXYZ', quote: '' });
  });
});
