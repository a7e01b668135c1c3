/**
 * Who dials while the exchange is out of reach. Every shard of a process loses its socket in the same
 * outage; were each to retry on its own backoff, n shards would spend n connection attempts of
 * Binance's 300 per 5 minutes per period, and a backoff long enough to keep that low leaves charts
 * dark for up to that long after the route returns (30 s before this). So the first shard to go down
 * scouts, retrying on its backoff, and every other one that goes down parks; the moment any shard's
 * socket opens, the exchange is known reachable and every parked shard dials at once (still through
 * the connect limiter). A scout that stops hands the task on by waking the parked.
 *
 * ```
 * shard 0: --x--r----r----r--o        (x down, r a retry, o open)
 * shard 1: ---x.................d-o   (parked: no attempt of its own; d dials when 0 opens)
 * ```
 */
export class ReconnectScout<S = unknown> {
  private scout: S | undefined;
  private readonly parked = new Map<S, () => void>();

  /**
   * A shard lost its socket or failed to dial. True: it scouts, and retries on its own backoff. False:
   * it is parked and must not dial until `wake` is called (once).
   */
  down(shard: S, wake: () => void): boolean {
    if (this.scout === undefined || this.scout === shard) {
      this.scout = shard;
      this.parked.delete(shard);
      return true;
    }
    this.parked.set(shard, wake);
    return false;
  }

  /** A shard's socket opened: the exchange is reachable, so every parked shard dials now. */
  reached(shard: S): void {
    if (this.scout === shard) this.scout = undefined;
    this.parked.delete(shard);
    this.wakeAll();
  }

  /** A shard stopped for good: it neither scouts nor waits any more. */
  left(shard: S): void {
    this.parked.delete(shard);
    if (this.scout !== shard) return;
    this.scout = undefined;
    // The parked ones dial again: the first of them to fail scouts in its place.
    this.wakeAll();
  }

  /** Shards waiting for the scout (for logs and tests). */
  get waiting(): number {
    return this.parked.size;
  }

  private wakeAll(): void {
    const wakes = [...this.parked.values()];
    this.parked.clear();
    for (const w of wakes) w();
  }
}
