import type { SeriesId } from '../domain/series-id.ts';
import { leaseKeys, type SeriesKeys, seriesKeys } from './cluster-keys.ts';
import type { FencedWriterConfig } from './fenced-writer-config.ts';
import { MAX_FREED_KEPT } from '../store/redis-bar-store.ts';
import type { WithWrite } from './write-commands.ts';

/**
 * A derived series instance the leader let go of (no edge holds it) is dropped by Redis this long
 * after (a client back within it resumes). Its parameters are the client's choice, so without it
 * every instance ever asked for stayed a day, ~240 KB each, at the per-address rate of new ones.
 */
export const RELEASED_INSTANCE_TTL_MS = 10 * 60_000;

/** FencedWriter's expiries of logs let go of (and kept again), under the lease. */
export class LogExpiries {
  constructor(
    private readonly redis: WithWrite,
    private readonly cfg: FencedWriterConfig,
  ) {}

  /**
   * Sets a bar series' keys to expire in `ttlMs` (a series freed), or keeps them (`ttlMs` 0: held
   * again), under the lease `token`; at most `maxFreedKept` freed series are kept in the cluster, the
   * oldest beyond dropped now (see SERIES_FREE_LUA). A write landing after it (one in flight when the
   * series was freed) keeps the expiry unless it empties the set (a series of one bar), and expiries
   * go in the order they were made. Resolves false when fenced.
   */
  async expireSeries(token: string, id: SeriesId, ttlMs: number): Promise<boolean> {
    const k = seriesKeys(id, this.cfg.keyPrefix);
    const { freed, kept } = leaseKeys(this.cfg.keyPrefix);
    const max = this.cfg.maxFreedKept ?? MAX_FREED_KEPT;
    return (await this.redis.clusterSeriesFree(this.cfg.leaseKey, freed, k.candles, k.pos, k.hist, kept, token, ttlMs, id.key, max, this.cfg.keyPrefix ?? '')) >= 0;
  }

  /** Sets any log's keys to expire in `ttlMs`, or keeps them (no bound on how many: see freeInstanceLog). */
  async expireLog(token: string, k: SeriesKeys, ttlMs: number): Promise<boolean> {
    return (await this.redis.clusterSeriesExpiry(this.cfg.leaseKey, k.candles, k.pos, k.hist, token, ttlMs)) === 1;
  }

  /**
   * A derived-series instance's log (`label|SYMBOL:interval`, its `instanceKeys`) freed: it expires in
   * `ttlMs`, and at most `maxFreedKept` freed logs are kept in the cluster, the oldest beyond dropped
   * now (see INSTANCE_FREE_LUA); `ttlMs` 0: held (named among the kept logs). Resolves false when fenced.
   */
  async freeInstanceLog(token: string, member: string, k: SeriesKeys, ttlMs: number): Promise<boolean> {
    const { freedInstances, keptInstances } = leaseKeys(this.cfg.keyPrefix);
    const max = this.cfg.maxFreedKept ?? MAX_FREED_KEPT;
    return (await this.redis.clusterInstanceFree(this.cfg.leaseKey, freedInstances, k.candles, k.pos, k.hist, keptInstances, token, ttlMs, member, max, this.cfg.keyPrefix ?? '')) >= 0;
  }
}
