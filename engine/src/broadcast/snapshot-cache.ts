import { ByteLru } from './byte-lru.ts';

let serials = 0;

/** A serialized `historical` message of one series at one window version. */
export class Snapshot {
  /** Unique per snapshot built: what a message built on it stamps (see firstMessage). */
  readonly serial = ++serials;

  constructor(
    readonly version: number,
    /** The message as UTF-8 bytes: every client of a connect storm gets this one buffer. */
    readonly bytes: Buffer,
  ) {}

  /** The message as text (decoded when asked: only sockets that add derived series need it). */
  get json(): string {
    return this.bytes.toString('utf8');
  }
}

export interface SnapshotCacheLimits {
  /** Snapshots kept at most (default 256). */
  maxEntries?: number;
  /** Bytes kept at most (default 32 MiB); a snapshot bigger than this is served but not kept. */
  maxBytes?: number;
}

/**
 * Serialized snapshots of the series clients are connecting to, least recently used first out,
 * bounded by count and bytes. An entry is dropped as soon as its series changes (it could never be
 * served again), so what stays is one buffer per series being watched and quiet since: memory grows
 * with clients, not with the series stored.
 */
export class SnapshotCache {
  private readonly lru: ByteLru<string, Snapshot>;

  constructor({ maxEntries = 256, maxBytes = 32 * 2 ** 20 }: SnapshotCacheLimits = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError(`SnapshotCache: maxEntries must be an integer >= 0, got ${maxEntries}`);
    if (!(maxBytes >= 0)) throw new TypeError(`SnapshotCache: maxBytes must be >= 0, got ${maxBytes}`);
    this.lru = new ByteLru((s) => s.bytes.length, maxBytes, maxEntries);
  }

  get maxEntries(): number {
    return this.lru.maxEntries;
  }

  get maxBytes(): number {
    return this.lru.maxBytes;
  }

  /** The snapshot of `key` at `version`, or undefined (a stale one is dropped). */
  get(key: string, version: number): Snapshot | undefined {
    const hit = this.lru.get(key);
    if (hit && hit.version !== version) this.lru.delete(key);
    return hit?.version === version ? hit : undefined;
  }

  /** Keeps `snap` for `key`, evicting the least recently used beyond the limits. */
  set(key: string, snap: Snapshot): void {
    this.lru.set(key, snap);
  }

  drop(key: string): void {
    this.lru.delete(key);
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.bytes;
  }
}
