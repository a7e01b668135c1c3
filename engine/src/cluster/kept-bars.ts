import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { RangeNotKeptError } from '../series/series-errors.ts';
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

/**
 * A cluster edge's older bars for derived-series ranges (`SeriesRegistryDeps.olderBars`): what Redis
 * keeps, and RangeNotKeptError where the range reaches below a full set (trimmed to BUFFER_SIZE:
 * older bars exist on the exchange, which an edge cannot ask). A set short of BUFFER_SIZE holds all
 * there is (the leader loads BUFFER_SIZE bars, fewer only when the exchange has fewer), so its
 * bottom is the series' start, as the exchange would answer. Assumes every node's BUFFER_SIZE is the
 * same, as the edge's snapshots already do.
 */
export function keptOlderBars(redis: Redis, prefix: string, bufferSize: number) {
  return async (id: SeriesId, endTime: number, limit: number): Promise<Bar[]> => {
    const { bars, members, kept, oldest } = await readKept(redis, id, prefix, endTime, limit);
    if (members < limit && kept >= bufferSize) {
      throw new RangeNotKeptError(
        `${id.symbol} ${id.interval}: this range needs candles older than the cluster keeps (BUFFER_SIZE=${bufferSize}${oldest === undefined ? '' : `, from ${new Date(oldest).toISOString()}`}); use a later endTime or a smaller limit`,
      );
    }
    return bars;
  };
}
