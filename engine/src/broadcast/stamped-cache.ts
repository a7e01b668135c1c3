import { ByteLru } from './byte-lru.ts';

/**
 * Serialized messages (or parts of them) kept while what they were built from is unchanged: each
 * entry carries a stamp of its inputs (versions, ranges) and is built again when the stamp differs.
 * Bounded by bytes (a string's length × 2, a Buffer's length), least recently used first out; a value
 * bigger than the bound is served but not kept.
 */
export class StampedCache<K, V extends string | Buffer> {
  private readonly lru: ByteLru<K, { stamp: string; value: V }>;

  constructor(maxBytes: number) {
    this.lru = new ByteLru((e) => sizeOf(e.value), maxBytes);
  }

  get(key: K, stamp: string, build: () => V): V {
    const hit = this.lru.get(key);
    if (hit?.stamp === stamp) return hit.value;
    const value = build();
    this.lru.set(key, { stamp, value });
    return value;
  }

  get bytes(): number {
    return this.lru.bytes;
  }

  get size(): number {
    return this.lru.size;
  }
}

// UTF-16 in memory: two bytes a character.
const sizeOf = (v: string | Buffer) => (typeof v === 'string' ? v.length * 2 : v.length);
