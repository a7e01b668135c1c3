import { describe, expect, it } from 'vitest';
import { pricePrecision } from '../../../client/src/chart/period.ts';

/** Decimals a price is shown with (last price, title, the chart's axis): enough for its tick. */
describe('pricePrecision', () => {
  const shown = (p: number) => p.toFixed(pricePrecision(p));

  it('keeps 2 decimals from 100 up and 4 from 1 up', () => {
    expect(shown(60_123.45)).toBe('60123.45');
    expect(shown(150.12)).toBe('150.12');
    expect(shown(1.2345)).toBe('1.2345');
  });

  it('shows five significant digits below 1, up to the exchange’s 8 decimals, with no zero it does not quote', () => {
    expect(shown(0.48646)).toBe('0.48646'); // XRP: 0.486460 before
    expect(shown(0.05123)).toBe('0.051230');
    expect(shown(0.00010234)).toBe('0.00010234'); // DOTBTC in the simulator (tick 1e-8)
    expect(shown(0.00013081)).toBe('0.00013081'); // ATOMBTC
    expect(shown(0.00001234)).toBe('0.00001234'); // PEPE: 0.000012 with a fixed 6, 0.000012340 with at least 6
    expect(shown(0.00000047)).toBe('0.00000047'); // a BTC-quoted pair: 0.000000 with a fixed 6
  });

  it('goes past 8 decimals only for a price that would show fewer than two digits in 8', () => {
    expect(shown(0.000000012345)).toBe('0.000000012345');
  });

  it('bounds the decimals for tiny, zero and unreadable prices', () => {
    expect(pricePrecision(1e-30)).toBe(12);
    expect(pricePrecision(0)).toBe(6);
    expect(pricePrecision(Number.NaN)).toBe(6);
    expect(pricePrecision(-1)).toBe(6);
  });
});
