/**
 * Serialized messages (or parts of them) kept while what they were built from is unchanged: each
 * entry carries a stamp of its inputs (versions, ranges) and is built again when the stamp differs.
 * Bounded by bytes (a string's length × 2, a Buffer's length), least recently used first out; a value
 * bigger than the bound is served but not kept.
 */
export class StampedCache<K, V extends string | Buffer> {
  private readonly entries = new Map<K, { stamp: string; value: V }>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: K, stamp: string, build: () => V): V {
    const hit = this.entries.get(key);
    if (hit) {
      this.drop(key, hit.value);
      if (hit.stamp === stamp) {
        this.keep(key, hit.stamp, hit.value);
        return hit.value;
      }
    }
    const value = build();
    this.keep(key, stamp, value);
    return value;
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  private keep(key: K, stamp: string, value: V): void {
    const n = sizeOf(value);
    if (n > this.maxBytes) return;
    this.entries.set(key, { stamp, value });
    this.total += n;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.drop(k, e.value);
    }
  }

  private drop(key: K, value: V): void {
    this.entries.delete(key);
    this.total -= sizeOf(value);
  }
}

// UTF-16 in memory: two bytes a character.
const sizeOf = (v: string | Buffer) => (typeof v === 'string' ? v.length * 2 : v.length);
