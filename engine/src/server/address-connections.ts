/**
 * Open connections per client address, capped: one address cannot hold every socket the server can
 * take (each costs a send buffer and a follow). `limit` 0 = no cap. Entries go when their count
 * reaches zero, so the map is bounded by the connections open.
 */
export class AddressConnections {
  private readonly open = new Map<string, number>();
  refused = 0;

  constructor(private readonly limit: number) {}

  /** Whether one more connection from `address` fits (not counted until `add`). */
  fits(address: string): boolean {
    return this.limit <= 0 || (this.open.get(address) ?? 0) < this.limit;
  }

  /** Counts a connection in; false (and not counted) when the address is at its cap. */
  add(address: string): boolean {
    if (!this.fits(address)) {
      this.refused++;
      return false;
    }
    this.open.set(address, (this.open.get(address) ?? 0) + 1);
    return true;
  }

  remove(address: string): void {
    const n = (this.open.get(address) ?? 0) - 1;
    if (n > 0) this.open.set(address, n);
    else this.open.delete(address);
  }

  /** Connections open from `address`. */
  count(address: string): number {
    return this.open.get(address) ?? 0;
  }

  get addresses(): number {
    return this.open.size;
  }
}
