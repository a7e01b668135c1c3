import { concat, defer, type Observable, of } from 'rxjs';
import type { Bar } from '../src/domain/bar.ts';
import { bucketsBetween, nextOpen } from '../src/domain/interval.ts';
import { seriesId } from '../src/domain/series-id.ts';
import { MAX_KLINES_PER_CALL, type BinanceRest } from '../src/sources/binance-rest.ts';
import type { BarStore } from '../src/store/bar-store.ts';

export interface HistoryPagesConfig {
  rest: BinanceRest;
  /** Read first; REST fills whatever it lacks (before, between and after its bars). */
  store?: BarStore;
  /** Most bars taken from the store (it is read in one go, so this bounds memory). */
  storeLimit?: number;
  symbol: string;
  /** A native interval. */
  interval: string;
  /** First open time (a bucket open of `interval`). */
  from: number;
  /** Exclusive end: bars opening before it. */
  to: number;
}

/**
 * Pages of bars over [from, to), oldest first: the store's closed bars where it has them, the
 * exchange's REST (weight-aware, lazy, page by page) for every stretch it lacks. Only the store's
 * part is held in memory, bounded by `storeLimit`.
 */
export async function historyPages(config: HistoryPagesConfig): Promise<{ pages$: Observable<Bar[]>; storedBars: number }> {
  const { rest, store, storeLimit = 100_000, symbol, interval, from, to } = config;
  let stored: Bar[] = [];
  if (store) {
    const id = seriesId(symbol, interval);
    await store.restore(id);
    const limit = Math.min(bucketsBetween(from, to, interval), storeLimit);
    // A stored forming bar is not history yet: REST gives its final values (or its forming ones, which are dropped).
    stored = (await store.range(id, to - 1, limit)).filter((b) => b.closed && b.openTime >= from && b.openTime < to);
  }
  const segments: Observable<Bar[]>[] = [];
  let cursor = from;
  let run: Bar[] = [];
  const endRun = () => {
    if (run.length === 0) return;
    const bars = run;
    run = [];
    segments.push(defer(() => of(...pagesOf(bars, MAX_KLINES_PER_CALL))));
  };
  for (const b of stored) {
    if (b.openTime < cursor) continue;
    if (b.openTime > cursor) {
      endRun();
      segments.push(rest.range$(symbol, interval, cursor, b.openTime - 1));
    }
    run.push(b);
    cursor = nextOpen(b.openTime, interval);
  }
  endRun();
  if (cursor < to) segments.push(rest.range$(symbol, interval, cursor, to - 1));
  return { pages$: concat(...segments), storedBars: stored.length };
}

/** `items` in pages of `size`. */
export function pagesOf<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
