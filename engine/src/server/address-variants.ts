/**
 * Parameter variants of derived series held per client address and series (`rsi:period=21` on
 * BTCUSDT 1m; defaults are not variants): one address may hold at most `limit` of a definition on a
 * series, so it cannot take every variant place the registry keeps per series for everyone (one
 * socket asking for 16 variants locked every other address out of them). `limit` 0 = no cap.
 * Counted per socket holding a variant; entries go when no socket holds them.
 */
export class AddressVariants {
  /** `address|definition|series` → variant label → sockets holding it. */
  private readonly byKey = new Map<string, Map<string, number>>();

  constructor(private readonly limit: number) {}

  /**
   * Holds `variants` (definition and label of each) for one socket of `address` on `series`; when that
   * would pass the limit for a definition, holds nothing and returns the definition's name.
   */
  take(address: string, series: string, variants: ReadonlyArray<{ def: string; label: string }>): string | undefined {
    if (this.limit <= 0) return undefined;
    const added = new Map<string, Set<string>>();
    for (const v of variants) {
      const labels = this.byKey.get(`${address}|${v.def}|${series}`);
      if (labels?.has(v.label)) continue;
      const mine = added.get(v.def) ?? added.set(v.def, new Set()).get(v.def)!;
      mine.add(v.label);
      if ((labels?.size ?? 0) + mine.size > this.limit) return v.def;
    }
    for (const v of variants) {
      const key = `${address}|${v.def}|${series}`;
      const labels = this.byKey.get(key) ?? this.byKey.set(key, new Map()).get(key)!;
      labels.set(v.label, (labels.get(v.label) ?? 0) + 1);
    }
    return undefined;
  }

  /** What `take` held for that socket. */
  release(address: string, series: string, variants: ReadonlyArray<{ def: string; label: string }>): void {
    if (this.limit <= 0) return;
    for (const v of variants) {
      const key = `${address}|${v.def}|${series}`;
      const labels = this.byKey.get(key);
      const n = (labels?.get(v.label) ?? 0) - 1;
      if (n > 0) labels!.set(v.label, n);
      else labels?.delete(v.label);
      if (labels && labels.size === 0) this.byKey.delete(key);
    }
  }

  /** Every label of `def` on `series` that sockets of `address` hold now, with how many sockets hold it. */
  held(address: string, series: string, def: string): Array<[label: string, count: number]> {
    return [...(this.byKey.get(`${address}|${def}|${series}`) ?? [])];
  }

  /** Entries kept (bounded by the sockets open). */
  get size(): number {
    return this.byKey.size;
  }
}
