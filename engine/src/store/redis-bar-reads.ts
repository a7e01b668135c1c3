import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import { candlesKey, type SeriesId } from '../domain/series-id.ts';
import type { StoreMetrics } from './bar-store.ts';
import { decodeBar } from './bar-member.ts';
import type { RedisLink, StoreLog } from './redis-link.ts';
import type { SeriesWindow } from './series-window.ts';

/**
 * The Redis bar store's reads (`restore`, `range`): from Redis while it is usable, else from the hot
 * windows alone, at once.
 */
export class RedisBarReads {
  constructor(
    private readonly redis: Redis,
    private readonly link: RedisLink,
    /** The hot window of a series, made on first use (see createRedisBarStore). */
    private readonly window: (id: SeriesId) => SeriesWindow,
    private readonly cfg: { bufferSize: number; keyPrefix: string; metrics?: StoreMetrics; log: StoreLog },
  ) {}

  /** See BarStore.restore. */
  async restore(id: SeriesId): Promise<Bar | undefined> {
    if (!(await this.link.waitReady(this.link.connectDeadline - Date.now()))) {
      this.link.warnAlone(`redis not reachable: ${id.key} and every series loaded until it answers start from the exchange alone`);
      return undefined;
    }
    const key = candlesKey(id, this.cfg.keyPrefix);
    const w = this.window(id);
    let members: string[];
    try {
      members = await this.redis.zrange(key, -this.cfg.bufferSize, -1);
      this.link.answered();
    } catch (e) {
      this.link.failed(e);
      this.link.warnAlone(`redis read failed (${this.link.lastError}): ${id.key} and every series loaded until it answers start from the exchange alone`);
      return undefined;
    }
    const stored = this.decodeAll(key, members);
    w.reserve(w.size + stored.length);
    for (const b of stored) w.upsert(b);
    return w.newest();
  }

  /** See BarStore.range. */
  async range(id: SeriesId, endTime: number, limit: number): Promise<Bar[]> {
    const mem = this.window(id).before(endTime, limit);
    // Hung or down: memory at once (a shorter answer), never a wait for Redis.
    if (mem.length >= limit || !this.link.ok() || limit <= 0) return mem;
    const key = candlesKey(id, this.cfg.keyPrefix);
    let stored: Bar[];
    try {
      stored = this.decodeAll(key, await this.redis.zrange(key, endTime, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit));
      this.link.answered();
    } catch (e) {
      // Went down or hung between the check and the read: memory is still a correct (shorter) answer.
      this.link.failed(e);
      return mem;
    }
    // Memory wins for the same open time: it holds writes not yet flushed.
    const merged = new Map<number, Bar>();
    for (const b of stored) merged.set(b.openTime, b);
    for (const b of mem) merged.set(b.openTime, b);
    return [...merged.values()].sort((a, z) => a.openTime - z.openTime).slice(-limit);
  }

  /** Decodes members read back, skipping (and counting) any that are not a valid bar. */
  private decodeAll(key: string, members: readonly string[]): Bar[] {
    const bars: Bar[] = [];
    for (const m of members) {
      const b = decodeBar(m);
      if (b) bars.push(b);
    }
    const bad = members.length - bars.length;
    if (bad) {
      this.cfg.metrics?.writeErrors(bad);
      this.cfg.log('warn', `${key}: skipped ${bad} malformed member(s)`);
    }
    return bars;
  }
}
