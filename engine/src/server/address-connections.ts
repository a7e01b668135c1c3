import { IPV6_BLOCK_SHARE, pooledBlock } from './address-rate-limit.ts';

/**
 * Open connections per client address, capped: one address cannot hold every socket the server can
 * take (each costs a send buffer and a follow). An IPv6 address's /48 holds at most IPV6_BLOCK_SHARE
 * times the cap in all (else a site held 65,536 caps, one per /64). `limit` 0 = no cap. Entries go
 * when their count reaches zero, so the map is bounded by the connections open.
 */
export class AddressConnections {
  private readonly open = new Map<string, number>();
  refused = 0;

  constructor(private readonly limit: number) {}

  /** Whether one more connection from `address` fits (not counted until `add`). */
  fits(address: string): boolean {
    if (this.limit <= 0) return true;
    const block = pooledBlock(address);
    return this.count(address) < this.limit && (block === undefined || this.count(`block ${block}`) < this.limit * IPV6_BLOCK_SHARE);
  }

  /** Counts a connection in; false (and not counted) when the address is at its cap. */
  add(address: string): boolean {
    if (!this.fits(address)) {
      this.refused++;
      return false;
    }
    this.bump(address, 1);
    return true;
  }

  remove(address: string): void {
    this.bump(address, -1);
  }

  /** Connections open from `address`. */
  count(address: string): number {
    return this.open.get(address) ?? 0;
  }

  /** Addresses with connections open. */
  get addresses(): number {
    let n = 0;
    for (const key of this.open.keys()) if (!key.startsWith('block ')) n++;
    return n;
  }

  private bump(address: string, by: number): void {
    const block = this.limit > 0 ? pooledBlock(address) : undefined;
    for (const key of block === undefined ? [address] : [address, `block ${block}`]) {
      const n = (this.open.get(key) ?? 0) + by;
      if (n > 0) this.open.set(key, n);
      else this.open.delete(key);
    }
  }
}
