import type { SeriesId } from '../domain/series-id.ts';

/**
 * Series freed and still kept in Redis (their keys set to expire after RELEASED_SERIES_TTL_MS), oldest
 * first, at most `max`. The expiry alone bounded how long, not how many: on-demand series asked for
 * at the per-address rate (and from many addresses) kept about 300 KB each for an hour, so Redis grew
 * by hundreds of MB in minutes. Freeing one more than `max` hands back the oldest, for its keys to go
 * now. Entries older than `ttlMs` have expired in Redis on their own and are forgotten.
 */
export class FreedSeries {
  private readonly order = new Map<string, { id: SeriesId; at: number }>();

  constructor(
    readonly max: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `id` was freed: returns the series beyond the bound, oldest first (their keys are to go now). */
  freed(id: SeriesId): SeriesId[] {
    const now = this.now();
    this.order.delete(id.key);
    this.order.set(id.key, { id, at: now });
    const out: SeriesId[] = [];
    for (const [key, e] of this.order) {
      const expired = now - e.at >= this.ttlMs;
      if (!expired && this.order.size <= this.max) break;
      this.order.delete(key);
      if (!expired) out.push(e.id);
    }
    return out;
  }

  /** `key` is held again: its keys stay, it is not counted. */
  kept(key: string): void {
    this.order.delete(key);
  }

  get size(): number {
    return this.order.size;
  }
}
