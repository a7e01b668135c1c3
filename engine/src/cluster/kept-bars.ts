import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { decodeBar } from './bar-codec.ts';
import { seriesKeys } from './cluster-keys.ts';

/**
 * Up to `limit` bars the cluster keeps of a series, opening at or before `endTime`, oldest first;
 * how many members the page had (malformed ones are skipped), how many the set keeps and its oldest open time.
 */
export async function readKept(redis: Redis, id: SeriesId, prefix: string, endTime: number, limit: number): Promise<{ bars: Bar[]; members: number; kept: number; oldest: number | undefined }> {
  const key = seriesKeys(id, prefix).candles;
  // One round trip, one moment: the page, the set's size and its bottom agree.
  const replies = await redis.multi().zrange(key, endTime, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit).zcard(key).zrange(key, 0, 0, 'WITHSCORES').exec();
  const [page, size, bottom] = replies ?? [];
  if (!page || !size || !bottom) throw new Error('redis transaction aborted');
  const failed = page[0] ?? size[0] ?? bottom[0];
  if (failed) throw failed;
  const members = page[1] as string[];
  const first = (bottom[1] as string[])[1];
  return {
    bars: members.map(decodeBar).filter((b): b is Bar => b !== undefined).reverse(),
    members: members.length,
    kept: size[1] as number,
    oldest: first === undefined ? undefined : Number(first),
  };
}
