import { describe, expect, it } from 'vitest';
import { pickerEntries, searchMarkets, splitSymbol } from '../../../client/src/picker/search-markets.ts';

// A universe the size of Binance's spot list: 2,400 symbols over six quotes.
const quotes = ['USDT', 'USDC', 'FDUSD', 'BTC', 'ETH', 'TRY'];
const bases = Array.from({ length: 400 }, (_, i) => `C${i.toString(36).toUpperCase()}X`);
const markets = [...bases.flatMap((b) => quotes.map((q) => ({ symbol: `${b}${q}`, base: b, quote: q }))), { symbol: 'PEPEUSDT', base: 'PEPE', quote: 'USDT' }, { symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT' }, { symbol: 'USDCUSDT', base: 'USDC', quote: 'USDT' }];
const entries = pickerEntries(markets.map((m) => m.symbol), markets, ['BTCUSDT']);

describe('symbol search', () => {
  it('lists every symbol once, configured ones first', () => {
    expect(entries).toHaveLength(markets.length);
    expect(searchMarkets(entries, '')[0]!.symbol).toBe('BTCUSDT');
  });

  it('finds by name, base and quote', () => {
    expect(searchMarkets(entries, 'pepe')[0]).toMatchObject({ symbol: 'PEPEUSDT', base: 'PEPE', quote: 'USDT' });
    const usdc = searchMarkets(entries, 'usdc');
    // The base first, then every USDC-quoted symbol.
    expect(usdc[0]!.symbol).toBe('USDCUSDT');
    expect(usdc.filter((e) => e.quote === 'USDC')).toHaveLength(400);
    expect(searchMarkets(entries, 'btc/usdt')[0]!.symbol).toBe('BTCUSDT');
    expect(searchMarkets(entries, 'zzzz')).toEqual([]);
  });

  it('splits symbols the engine gives without base/quote', () => {
    expect(splitSymbol('ETHFDUSD')).toEqual({ symbol: 'ETHFDUSD', base: 'ETH', quote: 'FDUSD' });
    expect(splitSymbol('SOLBTC')).toEqual({ symbol: 'SOLBTC', base: 'SOL', quote: 'BTC' });
    expect(pickerEntries(['ETHUSDT'], [], [])[0]).toMatchObject({ base: 'ETH', quote: 'USDT', configured: false });
  });
});
