/**
 * Bar columns carved out of large shared ArrayBuffers (slabs) instead of one ArrayBuffer each.
 *
 * Why: a 45 KB column buffer per series lands in malloc's heap between the short-lived buffers of its
 * bootstrap (REST bodies, Redis replies); when those are freed the holes stay resident behind the
 * columns (measured: about 15 bytes per stored bar of the whole universe). A slab is big enough for
 * malloc to map it on its own, so the columns sit together outside that heap, and untouched slab
 * pages cost nothing until a chunk is handed out.
 *
 * Chunks of one byte size share slabs (a size class: in practice a window's capacity and the few
 * doubling steps below it). A chunk returns to its class when the `BarColumns` owning it is garbage
 * collected (the only holder of its views); a slab whose chunks are all free is dropped, so a market
 * that shrinks gives the memory back.
 */

/** Bytes of one slab: above glibc's largest dynamic mmap threshold (32 MiB) is not needed, 16 MiB is far above any temporary the engine frees. */
export const SLAB_BYTES = 16 * 2 ** 20;

export interface Chunk {
  readonly buffer: ArrayBuffer;
  readonly offset: number;
}

interface Slab {
  readonly buffer: ArrayBuffer;
  /** Bytes handed out from the start (bump pointer). */
  used: number;
  /** Chunks of this slab in use. */
  live: number;
}

class SizeClass {
  private readonly slabs: Slab[] = [];
  /** Free chunks (slab, offset), reused last freed first. */
  private readonly free: Array<{ slab: Slab; offset: number }> = [];

  constructor(readonly bytes: number) {}

  take(): { slab: Slab; offset: number } {
    const reused = this.free.pop();
    if (reused) {
      reused.slab.live++;
      // A freed chunk holds its last owner's bars: start clean, as a fresh buffer does.
      new Uint8Array(reused.slab.buffer, reused.offset, this.bytes).fill(0);
      return reused;
    }
    let slab = this.slabs[this.slabs.length - 1];
    if (!slab || slab.used + this.bytes > slab.buffer.byteLength) {
      slab = { buffer: new ArrayBuffer(Math.max(SLAB_BYTES, this.bytes)), used: 0, live: 0 };
      this.slabs.push(slab);
    }
    const offset = slab.used;
    slab.used += this.bytes;
    slab.live++;
    return { slab, offset };
  }

  give(slab: Slab, offset: number): void {
    slab.live--;
    if (slab.live > 0) {
      this.free.push({ slab, offset });
      return;
    }
    // Every chunk of the slab is free: drop it and its free chunks.
    const i = this.slabs.indexOf(slab);
    if (i >= 0) this.slabs.splice(i, 1);
    for (let k = this.free.length - 1; k >= 0; k--) if (this.free[k]!.slab === slab) this.free.splice(k, 1);
  }

  stats(): { slabs: number; freeChunks: number; liveChunks: number } {
    let live = 0;
    for (const s of this.slabs) live += s.live;
    return { slabs: this.slabs.length, freeChunks: this.free.length, liveChunks: live };
  }
}

const classes = new Map<number, SizeClass>();
const returns = new FinalizationRegistry<{ cls: SizeClass; slab: Slab; offset: number }>(({ cls, slab, offset }) => cls.give(slab, offset));

/**
 * A chunk of `bytes` (rounded up to 8, so float64 views fit at any multiple of 8 inside it), zeroed,
 * returned to the pool when `owner` is collected. The owner must be the only holder of views on it.
 */
export function allocateChunk(bytes: number, owner: object): Chunk {
  const size = Math.ceil(bytes / 8) * 8;
  let cls = classes.get(size);
  if (!cls) {
    cls = new SizeClass(size);
    classes.set(size, cls);
  }
  const { slab, offset } = cls.take();
  returns.register(owner, { cls, slab, offset });
  return { buffer: slab.buffer, offset };
}

/** Slabs, free and live chunks by chunk size (for tests and `/metrics`). */
export function slabStats(): Map<number, { slabs: number; freeChunks: number; liveChunks: number }> {
  const out = new Map<number, { slabs: number; freeChunks: number; liveChunks: number }>();
  for (const [size, cls] of classes) out.set(size, cls.stats());
  return out;
}
