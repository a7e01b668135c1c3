import type { SeriesId } from '../domain/series-id.ts';
import type { HotWindows } from './hot-windows.ts';
import type { RedisLink } from './redis-link.ts';
import type { SeriesWindow } from './series-window.ts';
import type { RedisWithUpsert, StorePipeline, StoreWriteScripts } from './store-write-scripts.ts';

/**
 * How long Redis keeps a series the engine freed (ms; an on-demand series nobody watches any more, or
 * one whose symbol stopped trading), in the store and in a cluster's log. Wanted again within it, the
 * series is restored from Redis (a cluster's continues its epoch and offsets); after it, Redis has let
 * go of it. Without it every series ever asked for (about 270 KB each in a cluster) stayed for good.
 */
export const RELEASED_SERIES_TTL_MS = 3_600_000;

/**
 * Which series' keys Redis keeps for good and which expire: one live (again) is kept, one released is
 * set to expire and counted among the freed (storeFree, see freed-bound.ts). What Redis did not take
 * when asked goes with the next flush (see WriteBehind).
 */
export class SeriesExpiries {
  /** Live series whose key no write has made permanent yet (see `live`), bounded by the windows. */
  private readonly unpersisted = new Set<string>();
  /**
   * Released series whose expiry Redis has not taken yet (released while it was unreachable, or the
   * PEXPIRE failed): set with the next flush, else their keys would stay for good. Bounded by the
   * series there are (one entry per key); a series live again leaves it.
   */
  private readonly unexpired = new Map<string, SeriesId>();

  constructor(
    private readonly redis: RedisWithUpsert,
    private readonly scripts: StoreWriteScripts,
    private readonly link: RedisLink,
    private readonly windows: HotWindows,
  ) {}

  /** `made`, a window just opened for `id`: its series is kept for good. */
  live(id: SeriesId, made: SeriesWindow): void {
    // Live again (or for the first time): kept for good, whatever an earlier release (of this
    // process or an earlier one) set; now, or else with its first write (Redis may not answer now).
    this.unpersisted.add(id.key);
    this.unexpired.delete(id.key);
    if (this.link.ok())
      this.redis.storeFree(...this.scripts.freeArgs(id, 0)).then(
        () => this.windows.get(id.key) === made && this.unpersisted.delete(id.key),
        (e: unknown) => void this.link.fencedOut(e),
      );
  }

  /** `id` released (its window dropped): its keys expire. */
  free(id: SeriesId): void {
    this.unpersisted.delete(id.key);
    this.expire(id);
  }

  /** Sets a freed series' expiry (and counts it, in Redis) now if Redis answers, else with the next flush (`unexpired`). */
  private expire(id: SeriesId): void {
    this.unexpired.set(id.key, id);
    if (this.link.ok())
      this.redis.storeFree(...this.scripts.freeArgs(id, RELEASED_SERIES_TTL_MS)).then(
        () => this.expired(id.key, id),
        (e: unknown) => void this.link.fencedOut(e),
      );
  }

  private expired(key: string, id: SeriesId): void {
    if (this.unexpired.get(key) === id) this.unexpired.delete(key);
  }

  /** Queues the keeps still owed (at most `max`) and returns their keys, for `taken`. */
  queueKeeps(pipeline: StorePipeline, max: number): string[] {
    const persisting: string[] = [];
    for (const key of this.unpersisted) {
      if (persisting.length >= max) break;
      const id = this.windows.id(key);
      if (!id) {
        this.unpersisted.delete(key);
        continue;
      }
      pipeline.storeFree(...this.scripts.freeArgs(id, 0));
      persisting.push(key);
    }
    return persisting;
  }

  /** Queues the expiry of a series released while its writes were pending. */
  queueFree(pipeline: StorePipeline, id: SeriesId): void {
    pipeline.storeFree(...this.scripts.freeArgs(id, RELEASED_SERIES_TTL_MS));
  }

  /** Queues the expiries still owed (at most `max`) and returns them, for `taken`. */
  queueExpiries(pipeline: StorePipeline, max: number): Array<[string, SeriesId]> {
    const expiring: Array<[string, SeriesId]> = [];
    for (const [key, id] of this.unexpired) {
      if (expiring.length >= max) break;
      pipeline.storeFree(...this.scripts.freeArgs(id, RELEASED_SERIES_TTL_MS));
      expiring.push([key, id]);
    }
    return expiring;
  }

  /** The keeps and expiries a flush queued were written. */
  taken(persisting: readonly string[], expiring: ReadonlyArray<[string, SeriesId]>): void {
    for (const key of persisting) this.unpersisted.delete(key);
    for (const [key, id] of expiring) this.expired(key, id);
  }

  /** Whether keeps or expiries are still owed. */
  pending(): boolean {
    return this.unexpired.size > 0 || this.unpersisted.size > 0;
  }

  /** Fenced out: nothing will be written again. */
  clear(): void {
    this.unexpired.clear();
    this.unpersisted.clear();
  }
}
