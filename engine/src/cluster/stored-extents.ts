import type { Redis } from 'ioredis';
import type { SeriesId } from '../domain/series-id.ts';
import { seriesKeys } from './cluster-keys.ts';

/** What Redis holds of a series: its bars, and the newest one's open time (none without bars). */
export interface StoredExtent {
  readonly count: number;
  readonly newest?: number;
}

/** How many bars Redis holds for each series, and the newest one's open time (in one round trip). */
export async function storedExtents(redis: Redis, keyPrefix: string | undefined, ids: readonly SeriesId[]): Promise<StoredExtent[]> {
  if (!ids.length) return [];
  const p = redis.pipeline();
  for (const id of ids) {
    const key = seriesKeys(id, keyPrefix).candles;
    p.zcard(key);
    p.zrange(key, -1, -1, 'WITHSCORES');
  }
  const out = (await p.exec()) ?? [];
  const reply = (k: number) => {
    const [err, v] = out[k] ?? [new Error('no reply'), undefined];
    if (err) throw err;
    return v;
  };
  return ids.map((_, i) => {
    const count = Number(reply(2 * i));
    const newest = reply(2 * i + 1) as string[];
    return newest.length === 2 ? { count, newest: Number(newest[1]) } : { count };
  });
}
