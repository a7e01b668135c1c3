import { lastValueFrom, of, toArray } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { bucketOpen, nextOpen } from '../domain/interval.ts';
import { resample } from '../operators/resample.ts';
import { sourceRatio } from '../pipeline/custom-intervals.ts';

/** Most source bars read for one request (a custom bar is `ratio` of them). */
const MAX_SOURCE_BARS = 40_000;
const PAGE = 1000;

/**
 * Up to `limit` closed bars of a custom interval opening at or before `endTime`, oldest first, built
 * from its source interval's bars on the exchange (`fetchSource`: up to 1000 bars opening at or
 * before a time), resampled as the engine builds the live ones. Only whole buckets are returned.
 */
export async function customOlderBars(
  fetchSource: (endTime: number, limit: number) => Promise<Bar[]>,
  interval: string,
  sourceInterval: string,
  endTime: number,
  limit: number,
): Promise<Bar[]> {
  const ratio = sourceRatio(interval, sourceInterval);
  const lastOpen = bucketOpen(endTime, interval);
  let end = nextOpen(lastOpen, interval) - 1;
  let left = Math.min(MAX_SOURCE_BARS, (limit + 1) * ratio);
  const pages: Bar[][] = [];
  while (left > 0) {
    const page = (await fetchSource(end, Math.min(PAGE, left))).filter((b) => b.openTime <= end && b.closed);
    if (page.length === 0) break;
    pages.unshift(page);
    left -= page.length;
    end = page[0]!.openTime - 1;
  }
  const source = pages.flat();
  if (source.length === 0) return [];
  const built = await lastValueFrom(of(...source).pipe(resample(interval, { sourceInterval }), toArray()));
  const last = new Map<number, Bar>();
  for (const b of built) last.set(b.openTime, b);
  // The oldest bucket may have been cut by the page boundary: whole ones only.
  const firstWhole = source[0]!.openTime === bucketOpen(source[0]!.openTime, interval) ? source[0]!.openTime : nextOpen(bucketOpen(source[0]!.openTime, interval), interval);
  return [...last.values()].filter((b) => b.closed && b.openTime >= firstWhole && b.openTime <= lastOpen).slice(-limit);
}
