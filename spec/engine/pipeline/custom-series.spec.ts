import { Subject, toArray, lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { bootstrapCustom, customSeries$ } from '../../../engine/src/pipeline/custom-series.ts';
import { createMemoryBarStore } from '../../../engine/src/store/memory-bar-store.ts';

const M = 60_000;
const T0 = 1_700_000_400_000 - (1_700_000_400_000 % (10 * M));
const bar = (i: number, close: number, closed = true): Bar => ({ openTime: T0 + i * 5 * M, open: 100 + i, high: 200 + i, low: 50 + i, close, volume: 1 + i, closed });

/** 10m bars from 5m ones: buckets are bars (0, 1), (2, 3), … */
describe('customSeries$ (a custom interval resampled from its source series live)', () => {
  const source = seriesId('BTCUSDT', '5m');
  const id = seriesId('BTCUSDT', '10m');

  async function run(sourceWindow: Bar[], customWindow: Bar[], live: Bar[]) {
    const store = createMemoryBarStore({ bufferSize: 100 });
    store.upsert(source, sourceWindow);
    store.upsert(id, customWindow);
    const bars$ = new Subject<Bar>();
    const out = lastValueFrom(customSeries$(id, source, store, bars$).pipe(toArray()));
    for (const b of live) {
      // As the engine does: the source window holds a bar before it is published.
      store.upsert(source, [b]);
      bars$.next(b);
    }
    bars$.complete();
    return out;
  }

  it('replays the source from the custom series newest bucket, then follows it', async () => {
    const out = await run([bar(0, 1), bar(1, 2), bar(2, 3, false)], [{ ...bar(0, 2), volume: 3 }], [bar(2, 4), bar(3, 5)]);
    expect(out.at(-1)).toEqual({ ...bar(2, 5), volume: bar(2, 0).volume + bar(3, 0).volume, high: 203, low: 52, closed: true });
    expect(out.filter((b) => b.openTime === T0 && b.closed)).toEqual([{ ...bar(0, 2), volume: 3, high: 201, low: 50 }]);
  });

  it('never emits a bucket built from part of its inputs when the source lags behind the custom history', async () => {
    // The custom history (fetched later) already holds bucket (2, 3); the source window is still in
    // bucket (0, 1) and its next update is bar 1's final. The bucket (0, 1) is whole in the custom
    // history; nothing partial may replace it.
    const out = await run([bar(0, 1), bar(1, 2, false)], [{ ...bar(0, 2), volume: 3, high: 201, low: 50 }, { ...bar(2, 4, false), volume: 3 }], [bar(1, 3), bar(2, 4), bar(3, 5)]);
    for (const b of out.filter((x) => x.openTime === T0)) expect(b).toMatchObject({ open: 100, high: 201, low: 50, volume: bar(0, 0).volume + bar(1, 0).volume });
    expect(out.at(-1)).toMatchObject({ openTime: T0 + 10 * M, open: 102, close: 5, volume: 3 + 4, closed: true });
  });

  it('with no custom history yet, starts whole at the bucket of the source newest bar', async () => {
    const out = await run([bar(0, 1), bar(1, 2), bar(2, 3), bar(3, 4, false)], [], [bar(3, 5)]);
    expect(out.every((b) => b.open === 102 && b.volume >= 3)).toBe(true);
    expect(out.at(-1)).toMatchObject({ openTime: T0 + 10 * M, open: 102, close: 5, volume: 7, closed: true });
  });

  it('replays the source once per bucket, in its last version (not every partial one)', async () => {
    const out = await run([bar(0, 1), bar(1, 2), bar(2, 3), bar(3, 4, false)], [{ ...bar(0, 2), volume: 3, high: 201, low: 50 }], []);
    expect(out.map((b) => [(b.openTime - T0) / (5 * M), b.close])).toEqual([[0, 2], [2, 4]]);
  });

  describe('after the source repaired a hole late', () => {
    /** The custom series live on a store and subjects; `repair` puts a bar in the source window and announces it. */
    function live(sourceWindow: Bar[], customWindow: Bar[]) {
      const store = createMemoryBarStore({ bufferSize: 100 });
      store.upsert(source, sourceWindow);
      store.upsert(id, customWindow);
      const bars$ = new Subject<Bar>();
      const repairs$ = new Subject<Bar>();
      const out: Bar[] = [];
      const sub = customSeries$(id, source, store, bars$, repairs$).subscribe((b) => out.push(b));
      return {
        out,
        sub,
        async repair(...bars: Bar[]) {
          out.length = 0;
          store.upsert(source, bars);
          for (const b of bars) repairs$.next(b);
          // Rebuilds wait for the burst to end (a timer of 0).
          await new Promise((r) => setTimeout(r, 20));
        },
      };
    }
    const at = (i: number) => T0 + i * 5 * M;

    it('rebuilds the forming bucket with the repaired input', async () => {
      // Bar 2 was the hole: bucket (2, 3) was built from bar 3 alone.
      const c = live([bar(0, 1), bar(1, 2), bar(3, 4, false)], [{ ...bar(0, 2), volume: 3 }, { ...bar(3, 4, false), openTime: at(2) }]);
      await c.repair(bar(2, 3));
      expect(c.out).toEqual([{ openTime: at(2), open: 102, high: 203, low: 52, close: 4, volume: 3 + 4, closed: false }]);
      c.sub.unsubscribe();
    });

    it('rebuilds a past bucket (closed) and the ones after it, then follows the source', async () => {
      // Bar 1 was the hole: bucket (0, 1) was closed with bar 0 alone.
      const c = live([bar(0, 1), bar(2, 3), bar(3, 4, false)], [{ ...bar(0, 1), closed: true }, { ...bar(2, 4, false), volume: 3 + 4, high: 203 }]);
      await c.repair(bar(1, 2));
      expect(c.out).toEqual([
        { openTime: at(0), open: 100, high: 201, low: 50, close: 2, volume: 1 + 2, closed: true },
        { openTime: at(2), open: 102, high: 203, low: 52, close: 4, volume: 3 + 4, closed: false },
      ]);
      c.sub.unsubscribe();
    });

    it('rebuilds once for a burst of repaired bars, from the oldest bucket they touch', async () => {
      const c = live([bar(0, 1), bar(3, 4, false)], [{ ...bar(0, 1), closed: true }, { ...bar(3, 4, false), openTime: at(2) }]);
      await c.repair(bar(1, 2), bar(2, 3));
      expect(c.out.map((b) => [(b.openTime - T0) / (5 * M), b.volume])).toEqual([[0, 3], [2, 7]]);
      c.sub.unsubscribe();
    });

    it('rebuilds the buckets whole before a hole still open, closed, and leaves the bucket lacking an input as it was', async () => {
      // Bar 1 repaired, bar 2 still missing: bucket (0, 1) is whole, bucket (2, 3) lacks bar 2.
      const c = live([bar(0, 1), bar(3, 4, false)], [{ ...bar(0, 1), closed: true }, { ...bar(3, 4, false), openTime: at(2) }]);
      await c.repair(bar(1, 2));
      expect(c.out).toEqual([{ openTime: at(0), open: 100, high: 201, low: 50, close: 2, volume: 1 + 2, closed: true }]);
      c.sub.unsubscribe();
    });

    it('a hole that never fills holds no rebuild back: the older repair is rebuilt up to it, a newer one whole on from its own bucket (reproduced: the older stayed partial for good)', async () => {
      // Bars 1 and 2 missing; 2 never comes (the exchange's own hole). Bar 6 is repaired later.
      const c = live([bar(0, 1), bar(3, 4), bar(4, 5), bar(5, 6), bar(7, 8, false)], [{ ...bar(0, 1), closed: true }, { ...bar(3, 4), openTime: at(2), volume: 4 }, { ...bar(4, 5), openTime: at(4), volume: 5 }, { ...bar(7, 8, false), openTime: at(6) }]);
      await c.repair(bar(1, 2));
      expect(c.out.map((b) => [(b.openTime - T0) / (5 * M), b.volume, b.closed])).toEqual([[0, 3, true]]);
      await c.repair(bar(6, 7));
      expect(c.out.map((b) => [(b.openTime - T0) / (5 * M), b.volume])).toEqual([[6, 15]]);
      c.sub.unsubscribe();
    });

    it('spans several whole buckets up to the hole, each once in its last version', async () => {
      // Bar 1 repaired; bars 2..5 there; bar 6 missing: buckets (0, 1), (2, 3), (4, 5) whole, (6, 7) not.
      const c = live([bar(0, 1), bar(2, 3), bar(3, 4), bar(4, 5), bar(5, 6), bar(7, 8, false)], [{ ...bar(0, 1), closed: true }, { ...bar(2, 4), volume: 7 }, { ...bar(4, 6), volume: 11 }, { ...bar(7, 8, false), openTime: at(6) }]);
      await c.repair(bar(1, 2));
      expect(c.out.map((b) => [(b.openTime - T0) / (5 * M), b.volume, b.closed])).toEqual([[0, 3, true], [2, 7, true], [4, 11, true]]);
      c.sub.unsubscribe();
    });

    it('rebuilds from the older hole once the newer one is repaired too (reproduced: only from the newer one; the older stayed partial for good)', async () => {
      // Two holes, bars 1 and 2, repaired one after the other (older first, the newer still open then).
      const c = live([bar(0, 1), bar(3, 4, false)], [{ ...bar(0, 1), closed: true }, { ...bar(3, 4, false), openTime: at(2) }]);
      await c.repair(bar(1, 2));
      expect(c.out.map((b) => [(b.openTime - T0) / (5 * M), b.volume])).toEqual([[0, 3]]);
      await c.repair(bar(2, 3));
      expect(c.out.map((b) => [(b.openTime - T0) / (5 * M), b.volume])).toEqual([[0, 3], [2, 7]]);
      c.sub.unsubscribe();
    });
  });
});

describe('bootstrapCustom', () => {
  it('leaves out the oldest bucket when the source history was cut mid-bucket by the cap (reproduced: stored closed with part of its inputs)', async () => {
    const M15 = 15 * M;
    const newest = Date.UTC(2026, 0, 5, 10, 0); // the second 15m bar of the 45m bucket of 09:45
    const src = seriesId('BTCUSDT', '15m');
    const cus = seriesId('BTCUSDT', '45m');
    // The exchange has more than asked: what comes is cut at `count`, not at its first bar.
    const rest = {
      latest: async (_s: string, _i: string, count: number): Promise<Bar[]> =>
        Array.from({ length: count }, (_, k) => {
          const t = newest - (count - 1 - k) * M15;
          return { openTime: t, open: 1, high: 2, low: 0.5, close: 1, volume: 1, closed: t !== newest };
        }),
    } as unknown as Parameters<typeof bootstrapCustom>[2];
    const store = createMemoryBarStore({ bufferSize: 30_000 });
    await bootstrapCustom(cus, src, rest, store, 30_000);
    const w = store.window(cus).last(30_000);
    expect(w.filter((b) => b.closed && b.volume !== 3)).toEqual([]);
  });
});
