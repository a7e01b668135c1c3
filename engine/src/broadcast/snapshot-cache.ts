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
  private readonly entries = new Map<string, Snapshot>();
  private total = 0;
  readonly maxEntries: number;
  readonly maxBytes: number;

  constructor({ maxEntries = 256, maxBytes = 32 * 2 ** 20 }: SnapshotCacheLimits = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError(`SnapshotCache: maxEntries must be an integer >= 0, got ${maxEntries}`);
    if (!(maxBytes >= 0)) throw new TypeError(`SnapshotCache: maxBytes must be >= 0, got ${maxBytes}`);
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }

  /** The snapshot of `key` at `version`, or undefined (a stale one is dropped). */
  get(key: string, version: number): Snapshot | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    if (hit.version !== version) {
      this.total -= hit.bytes.length;
      return undefined;
    }
    this.entries.set(key, hit); // most recently used now
    return hit;
  }

  /** Keeps `snap` for `key`, evicting the least recently used beyond the limits. */
  set(key: string, snap: Snapshot): void {
    this.drop(key);
    if (snap.bytes.length > this.maxBytes || this.maxEntries === 0) return;
    this.entries.set(key, snap);
    this.total += snap.bytes.length;
    while (this.entries.size > this.maxEntries || this.total > this.maxBytes) {
      const [oldest, s] = this.entries.entries().next().value as [string, Snapshot];
      this.entries.delete(oldest);
      this.total -= s.bytes.length;
    }
  }

  drop(key: string): void {
    const hit = this.entries.get(key);
    if (!hit) return;
    this.entries.delete(key);
    this.total -= hit.bytes.length;
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }
}
