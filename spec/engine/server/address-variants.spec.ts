import { describe, expect, it } from 'vitest';
import { AddressVariants } from '../../../engine/src/server/address-variants.ts';

const rsi = (...periods: number[]) => periods.map((p) => ({ def: 'rsi', label: `rsi:period=${p}` }));

describe('AddressVariants', () => {
  it('lets an address hold at most `limit` variants of a definition on a series, counting each variant once however many sockets hold it', () => {
    const v = new AddressVariants(4);
    expect(v.take('a', 'BTCUSDT:1m', rsi(20, 21, 22))).toBeUndefined();
    // The same variants from another socket: nothing new.
    expect(v.take('a', 'BTCUSDT:1m', rsi(20, 21, 22))).toBeUndefined();
    // One more fits, two more do not: refused whole, nothing held for it.
    expect(v.take('a', 'BTCUSDT:1m', rsi(23, 24))).toBe('rsi');
    expect(v.take('a', 'BTCUSDT:1m', rsi(23))).toBeUndefined();
    expect(v.take('a', 'BTCUSDT:1m', rsi(24))).toBe('rsi');
    // Other addresses, series and definitions have their own.
    expect(v.take('b', 'BTCUSDT:1m', rsi(30, 31, 32, 33))).toBeUndefined();
    expect(v.take('a', 'ETHUSDT:1m', rsi(30, 31, 32, 33))).toBeUndefined();
    expect(v.take('a', 'BTCUSDT:1m', [{ def: 'ema', label: 'ema:period=5' }])).toBeUndefined();
    // A request over the limit on its own.
    expect(v.take('c', 'BTCUSDT:1m', rsi(1, 2, 3, 4, 5))).toBe('rsi');
  });

  it('frees a variant once no socket of the address holds it, and forgets emptied entries', () => {
    const v = new AddressVariants(2);
    v.take('a', 's', rsi(1, 2));
    v.take('a', 's', rsi(1));
    v.release('a', 's', rsi(1, 2));
    // 1 is still held by the second socket: one place free.
    expect(v.take('a', 's', rsi(3, 4))).toBe('rsi');
    expect(v.take('a', 's', rsi(3))).toBeUndefined();
    v.release('a', 's', rsi(1));
    v.release('a', 's', rsi(3));
    expect(v.size).toBe(0);
  });

  it('limit 0: no cap', () => {
    const v = new AddressVariants(0);
    expect(v.take('a', 's', rsi(...Array.from({ length: 16 }, (_, i) => i)))).toBeUndefined();
    expect(v.size).toBe(0);
  });
});
