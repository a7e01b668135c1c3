import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BarColumns } from '../../../engine/src/store/bar-columns.ts';
import { SLAB_BYTES, slabStats } from '../../../engine/src/store/column-slabs.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const bar = (t: number, v: number) => ({ openTime: t * 60_000, open: v, high: v + 1, low: v - 1, close: v + 0.5, volume: v * 2, closed: v % 2 === 0 });

describe('column slabs', () => {
  it('columns sharing slabs never overlap: every live column reads back exactly what was written to it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(8, 16, 100, 1000), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 60 }), (steps) => {
        const live: Array<{ cols: BarColumns; tag: number }> = [];
        let tag = 0;
        for (const [slots, wide, drop] of steps) {
          if (drop && live.length > 0) live.splice(tag % live.length, 1);
          const cols = new BarColumns(slots, wide);
          tag++;
          for (let i = 0; i < slots; i++) cols.write(i, bar(i + 1, tag * 10_000 + i));
          live.push({ cols, tag });
        }
        for (const { cols, tag: t } of live) {
          for (let i = 0; i < cols.slots; i++) expect(cols.read(i)).toEqual(bar(i + 1, t * 10_000 + i));
        }
      }),
      { numRuns: 50 },
    );
  });

  it('a reused chunk starts zeroed, as a fresh buffer does', async () => {
    // Written and dropped inside a function, so nothing here keeps it alive.
    (() => {
      const cols = new BarColumns(777);
      for (let i = 0; i < 777; i++) cols.write(i, bar(i + 1, i + 3));
    })();
    await collect(() => (slabStats().get(34_968)?.liveChunks ?? 0) === 0);
    const again = new BarColumns(777);
    for (let i = 0; i < 777; i++) expect([again.time(i), again.close[i], again.closed[i]]).toEqual([0, 0, 0]);
  });

  it('gives a slab back once every column carved from it is collected', async () => {
    const slots = 500;
    // Chunks are rounded up to 8 bytes: 22,500 -> 22,504.
    const size = 22_504;
    const perSlab = Math.floor(SLAB_BYTES / size);
    const keep = (() => {
      const many = Array.from({ length: perSlab * 3 }, () => new BarColumns(slots));
      expect(slabStats().get(size)).toMatchObject({ slabs: 3, liveChunks: perSlab * 3 });
      return many[many.length - 1]!;
    })();
    await collect(() => slabStats().get(size)!.slabs === 1);
    expect(slabStats().get(size)).toMatchObject({ slabs: 1, liveChunks: 1 });
    expect(keep.slots).toBe(slots);
  });
});

/** Collects garbage until `done` (finalizers run in a later task than the collection). */
async function collect(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(done()).toBe(true);
}
