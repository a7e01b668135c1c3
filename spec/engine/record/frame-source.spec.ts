import { describe, expect, it } from 'vitest';
import { FrameSource } from '../../../engine/src/record/frame-source.ts';

/** An async sequence 0..n-1 that says how many items were pulled from it and whether it was returned. */
function counted(n: number, fail?: { at: number; error: Error }) {
  const state = { pulled: 0, returned: false };
  async function* items(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        if (fail && i === fail.at) throw fail.error;
        state.pulled++;
        yield i;
      }
    } finally {
      state.returned = true;
    }
  }
  return { state, items: items() };
}
const settle = () => new Promise((r) => setTimeout(r, 5));

/** Takes every item as a player does: synchronously while some are read, waiting when it outruns the reading. */
async function drain<T>(src: FrameSource<T>, each?: (taken: number) => void): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    let item = src.shift();
    while (item !== undefined) {
      out.push(item);
      each?.(out.length);
      item = src.shift();
    }
    if (src.ended && src.buffered === 0) return out;
    await src.ready();
  }
}

describe('FrameSource', () => {
  it('reads ahead only up to its bound and pauses the source there', async () => {
    const { state, items } = counted(50_000);
    const src = new FrameSource(items, { readAhead: 100 });
    await settle();
    expect(src.buffered).toBe(100);
    // Paused: nothing more is pulled while the player takes nothing.
    expect(state.pulled).toBe(100);
    await settle();
    expect(state.pulled).toBe(100);
    expect(src.peek()).toBe(0);
    expect(src.ended).toBe(false);
  });

  it('yields every item in order while never holding more than the bound (50,000 items)', async () => {
    const { state, items } = counted(50_000);
    const src = new FrameSource(items, { readAhead: 256 });
    let heldMax = 0;
    // Pulled from the source and not yet taken: what the read-ahead holds.
    const out = await drain(src, (taken) => (heldMax = Math.max(heldMax, state.pulled - taken)));
    expect(out).toHaveLength(50_000);
    expect(out.every((v, i) => v === i)).toBe(true);
    expect(src.peak).toBeLessThanOrEqual(256);
    expect(heldMax).toBeLessThanOrEqual(256);
    expect(src.ended).toBe(true);
    expect(src.error).toBeUndefined();
    expect(src.shift()).toBeUndefined();
  });

  it('resumes reading at half the bound, not at every item taken', async () => {
    const { state, items } = counted(1000);
    const src = new FrameSource(items, { readAhead: 10 });
    await settle();
    for (let i = 0; i < 4; i++) src.shift();
    await settle();
    expect(state.pulled).toBe(10);
    src.shift();
    await settle();
    expect(state.pulled).toBe(15);
    expect(src.buffered).toBe(10);
  });

  it('ends at a read error, after every item read before it, and says why', async () => {
    const error = new Error('unexpected end of file');
    const { items } = counted(100, { at: 30, error });
    const src = new FrameSource(items, { readAhead: 8 });
    const out = await drain(src);
    expect(out).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(src.error).toBe(error);
  });

  it('close stops reading, returns the source (which closes what it reads) and drops what it held', async () => {
    const { state, items } = counted(1000);
    const src = new FrameSource(items, { readAhead: 10 });
    await settle();
    src.close();
    await settle();
    expect(state.returned).toBe(true);
    expect(state.pulled).toBe(10);
    expect(src.buffered).toBe(0);
    expect(src.peek()).toBeUndefined();
    expect(src.ended).toBe(true);
    expect(src.error).toBeUndefined();
  });

  it('ready() resolves when an item arrives or the source ends empty', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* late() {
      await gate;
      yield 'a';
    }
    const src = new FrameSource(late());
    let ready = false;
    void src.ready().then(() => (ready = true));
    await settle();
    expect(ready).toBe(false);
    release();
    await settle();
    expect(ready).toBe(true);
    expect(src.shift()).toBe('a');
    const empty = new FrameSource((async function* () {})());
    await empty.ready();
    expect(empty.ended).toBe(true);
  });

  it('refuses a read-ahead that is not a positive integer', () => {
    for (const readAhead of [0, -1, 1.5, Number.NaN]) expect(() => new FrameSource(counted(1).items, { readAhead })).toThrow(TypeError);
  });
});
