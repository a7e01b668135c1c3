/**
 * A map bounded by entries and by bytes (each value's size as `sizeOf` tells), least recently used
 * first out. A value bigger than the whole bound is not kept (its caller serves it all the same).
 */
export class ByteLru<K, V> {
  private readonly entries = new Map<K, V>();
  private total = 0;

  constructor(
    private readonly sizeOf: (v: V) => number,
    readonly maxBytes: number,
    readonly maxEntries = Infinity,
  ) {}

  /** The value of `key`, now the most recently used. */
  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit;
  }

  /** Keeps `value` for `key` (replacing what it held), evicting the least recently used beyond the bounds. */
  set(key: K, value: V): void {
    this.delete(key);
    const n = this.sizeOf(value);
    if (n > this.maxBytes || this.maxEntries < 1) return;
    this.entries.set(key, value);
    this.total += n;
    for (const [k, v] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= this.sizeOf(v);
    }
  }

  delete(key: K): void {
    const hit = this.entries.get(key);
    if (hit === undefined) return;
    this.entries.delete(key);
    this.total -= this.sizeOf(hit);
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }
}
