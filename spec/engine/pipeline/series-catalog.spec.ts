import { describe, expect, it } from 'vitest';
import { SeriesCatalog } from '../../../engine/src/pipeline/series-catalog.ts';

const m = (symbol: string) => ({ symbol, base: symbol.replace(/USDT$/, ''), quote: 'USDT' });

describe('SeriesCatalog', () => {
  it('takes the configured symbols as trading until the exchange has described its markets', () => {
    const c = new SeriesCatalog(['BTCUSDT', 'ETHUSDT'], ['1m'], 'sim', 100);
    expect(c.marketsLoaded).toBe(false);
    expect(c.symbols()).toEqual(['BTCUSDT', 'ETHUSDT']);
    expect(c.isTrading('BTCUSDT')).toBe(true);
    expect(c.isTrading('PEPEUSDT')).toBe(false);
    expect(c.markets()).toEqual([m('BTCUSDT'), m('ETHUSDT')]);
  });

  it('lists every trading symbol, the configured ones that trade, and what started or stopped trading', () => {
    const c = new SeriesCatalog(['ETHUSDT', 'NOPEUSDT', 'BTCUSDT'], ['1m', '45m'], 'binance', 100);
    expect(c.setMarkets([m('PEPEUSDT'), m('BTCUSDT'), m('ETHUSDT')])).toEqual({ added: ['PEPEUSDT', 'BTCUSDT', 'ETHUSDT'], removed: [] });
    expect(c.listing()).toEqual({
      symbols: ['BTCUSDT', 'ETHUSDT', 'PEPEUSDT'],
      configured: ['ETHUSDT', 'BTCUSDT'],
      markets: [m('BTCUSDT'), m('ETHUSDT'), m('PEPEUSDT')],
      intervals: ['1m', '45m'],
      source: 'binance',
    });
    expect(c.rejected).toEqual(['NOPEUSDT']);
    // 45m is built from the configured 1m: no stream of its own.
    expect(c.nativeSeries().map((s) => s.key)).toEqual(['ETHUSDT:1m', 'BTCUSDT:1m']);
    expect(c.setMarkets([m('PEPEUSDT'), m('BTCUSDT'), m('SOLUSDT')])).toEqual({ added: ['SOLUSDT'], removed: ['ETHUSDT'] });
    expect(c.configured()).toEqual(['BTCUSDT']);
    expect(c.isTrading('ETHUSDT')).toBe(false);
    expect(c.isConfigured('PEPEUSDT')).toBe(false);
  });

  it('does not apply a list that stops over half the markets at once (an exchange-wide halt ended every series); a few at a time are applied (reproduced: all ended)', () => {
    const c = new SeriesCatalog('*', ['1m'], 'binance', 100);
    const all = Array.from({ length: 40 }, (_, i) => m(`S${i}USDT`));
    c.setMarkets(all);
    // 21 of 40 gone at once: held, nothing stops.
    expect(c.setMarkets(all.slice(21))).toEqual({ added: [], removed: [], held: 21 });
    expect(c.symbols()).toHaveLength(40);
    expect(c.isTrading('S0USDT')).toBe(true);
    // Half of them: applied.
    expect(c.setMarkets(all.slice(20)).removed).toHaveLength(20);
    // A small universe's list is always applied (10 or fewer).
    const small = new SeriesCatalog(['BTCUSDT'], ['1m'], 'binance', 100);
    small.setMarkets([m('BTCUSDT'), m('ETHUSDT'), m('SOLUSDT')]);
    expect(small.setMarkets([m('BTCUSDT')])).toEqual({ added: [], removed: ['ETHUSDT', 'SOLUSDT'] });
  });

  it("with '*' keeps every trading symbol configured", () => {
    const c = new SeriesCatalog('*', ['1m'], 'sim', 100);
    c.setMarkets([m('BTCUSDT'), m('ETHUSDT')]);
    expect(c.configured()).toEqual(['BTCUSDT', 'ETHUSDT']);
    expect(c.isConfigured('ETHUSDT')).toBe(true);
    expect(c.nativeSeries().map((s) => s.key)).toEqual(['BTCUSDT:1m', 'ETHUSDT:1m']);
  });

  it('knows the source of a custom interval', () => {
    const c = new SeriesCatalog(['BTCUSDT'], ['1m', '5m', '45m'], 'sim', 100);
    expect(c.sourceOf({ symbol: 'PEPEUSDT', interval: '45m', key: 'PEPEUSDT:45m' })?.key).toBe('PEPEUSDT:5m');
    expect(c.sourceOf({ symbol: 'PEPEUSDT', interval: '5m', key: 'PEPEUSDT:5m' })).toBeUndefined();
  });
});
