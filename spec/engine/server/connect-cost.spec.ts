import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connectCost, SERIES_PER_CONNECT_TOKEN } from '../../../engine/src/server/connect-cost.ts';
import { MAX_SERIES_PER_REQUEST } from '../../../engine/src/series/series-registry.ts';

describe('connectCost', () => {
  it('is 1 without series, and 1 more per started group of SERIES_PER_CONNECT_TOKEN series', () => {
    expect(connectCost(undefined)).toBe(1);
    expect(connectCost('')).toBe(1);
    expect(connectCost(',,')).toBe(1);
    expect(connectCost('ema')).toBe(2);
    expect(connectCost('ema,rsi:period=21;source=open,macd,vwap')).toBe(2);
    expect(connectCost('a,b,c,d,e')).toBe(3);
    expect(connectCost(Array.from({ length: 16 }, (_, i) => `s${i}`).join(','))).toBe(5);
    // Empty entries first (the parse drops them): 16 series all the same (reproduced: 1).
    expect(connectCost(`${','.repeat(17)}${Array.from({ length: 16 }, (_, i) => `s${i}`).join(',')}`)).toBe(5);
  });

  it('stays within 1 .. 1 + MAX_SERIES_PER_REQUEST / SERIES_PER_CONNECT_TOKEN for any parameter (a ration burst of 64 always holds one)', () => {
    const max = 1 + Math.ceil(MAX_SERIES_PER_REQUEST / SERIES_PER_CONNECT_TOKEN);
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ',', ':', '=', ';', 'x'), maxLength: 400 }), (spec) => {
        const cost = connectCost(spec);
        expect(Number.isInteger(cost)).toBe(true);
        expect(cost).toBeGreaterThanOrEqual(1);
        expect(cost).toBeLessThanOrEqual(max);
        const asked = spec.split(',').filter(Boolean).length;
        expect(cost).toBe(1 + Math.ceil(Math.min(asked, MAX_SERIES_PER_REQUEST) / SERIES_PER_CONNECT_TOKEN));
      }),
    );
  });
});
