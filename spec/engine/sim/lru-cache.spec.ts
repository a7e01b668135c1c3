import { describe, expect, it } from 'vitest';
import { LruCache } from '../../../engine/sim/lru-cache.ts';

describe('LruCache', () => {
  it('keeps at most `capacity` entries and evicts the least recently used', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3);
    expect(c.size).toBe(2);
    expect(c.get('b')).toBeUndefined();
    expect([c.get('a'), c.get('c')]).toEqual([1, 3]);
    c.set('a', 10); // overwriting refreshes, does not grow
    c.set('d', 4);
    expect([c.get('a'), c.get('c'), c.get('d')]).toEqual([10, undefined, 4]);
    c.clear();
    expect(c.size).toBe(0);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new LruCache(0)).toThrow(TypeError);
    expect(() => new LruCache(1.5)).toThrow(TypeError);
  });
});
