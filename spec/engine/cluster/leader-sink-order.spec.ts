import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import type { StoredExtent, WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import type { Leadership } from '../../../engine/src/cluster/leader-lease.ts';
import { LeaderSink } from '../../../engine/src/cluster/leader-sink.ts';
import { windowAsWrites } from '../../helpers/window-as-writes.ts';

/**
 * What a series' first write is. An edge counts a series written (ready, its history servable) at its
 * first write, and a chart ignores updates older than its newest bar: so a series' whole window must
 * reach Redis before any live bar of it. Two ways a live bar went first (seen with SYMBOLS=* on the
 * simulator's universe: an edge ready with series of one bar): while its window waited behind others,
 * and while a new leader's heal was still asking Redis what it holds. Pure logic: a writer that
 * records, a lease that is a subject.
 */
const MIN = 60_000;
const bar = (t: number, close = 1, closed = true): Bar => ({ openTime: t * MIN, open: 1, high: 1, low: 1, close, volume: 1, closed });

function rig(o: { windowBars: number; stored?: () => Promise<StoredExtent[]> }) {
  const windows = new Map<string, Bar[]>();
  const writes: Array<{ key: string; bar: Bar }> = [];
  const waiting: Array<() => void> = [];
  let hold = false;
  // Each series' log exists already (an offset of 1 would tell the sink Redis began the log again).
  const offsets = new Map<string, number>();
  const writer = {
    write(_token: string, id: SeriesId, b: Bar): Promise<WriteResult> {
      writes.push({ key: id.key, bar: b });
      const offset = (offsets.get(id.key) ?? 100) + 1;
      offsets.set(id.key, offset);
      const done = { kind: 'written' as const, epoch: 'e', offset };
      return hold ? new Promise((r) => waiting.push(() => r(done))) : Promise.resolve(done);
    },
    storedExtents: (ids: readonly SeriesId[]) => (o.stored ? o.stored() : Promise.resolve(ids.map(() => ({ count: 0 })))),
    writeWindow: windowAsWrites((t, id, b): Promise<WriteResult> => writer.write(t, id, b)),
  };
  const state = new BehaviorSubject<Leadership>({ leader: false });
  const lease = {
    leader$: new BehaviorSubject(false),
    get state() {
      return state.value;
    },
    stepDown: () => undefined,
  };
  const series = () => [...windows.keys()].map((k) => seriesId(...(k.split(':') as [string, string])));
  const sink = new LeaderSink({ writer, lease, series, tail: (id, n) => (windows.get(id.key) ?? []).slice(-n), windowBars: o.windowBars });
  return {
    windows,
    writes,
    sink,
    lead() {
      state.next({ leader: true, term: 1, token: 't' });
      lease.leader$.next(true);
    },
    holdWrites: (on: boolean) => void (hold = on),
    release() {
      hold = false;
      for (const w of waiting.splice(0)) w();
    },
    /** Appends (or replaces the newest) bar of a series in its "hot window", as the pipeline does before publishing. */
    live(id: SeriesId, b: Bar) {
      const w = windows.get(id.key) ?? [];
      if (w.at(-1)?.openTime === b.openTime) w[w.length - 1] = b;
      else w.push(b);
      windows.set(id.key, w);
      sink.publish(id, b);
    },
  };
}

/** A rig whose heal waits, on taking the lead, until the test answers what Redis holds. */
function healRig() {
  let answer!: (n: StoredExtent[]) => void;
  const r = rig({ windowBars: 100, stored: () => new Promise((res) => (answer = res)) });
  return { ...r, answer: (n: number[], newest: number[] = []) => answer(n.map((count, i) => (newest[i] === undefined ? { count } : { count, newest: newest[i] }))) };
}

const flush = () => new Promise((r) => setImmediate(r));
const keysOf = (writes: Array<{ key: string }>) => writes.map((w) => w.key);

describe('a series reaches Redis window first, then live bars', () => {
  it('a live bar of a series whose window waits behind others is written with its window, not before', async () => {
    const r = rig({ windowBars: 6000, stored: () => Promise.resolve([]) });
    const big = seriesId('BTCUSDT', '1m');
    const small = seriesId('ETHUSDT', '1m');
    r.windows.set(big.key, Array.from({ length: 6000 }, (_, i) => bar(i)));
    r.windows.set(small.key, [bar(1), bar(2), bar(3)]);
    r.lead();
    await flush();
    r.writes.length = 0; // the heal's tails
    r.holdWrites(true);
    void r.sink.writeWindow(big); // 6,000 bars in flight: the queue waits for Redis
    void r.sink.writeWindow(small);
    // Both count until Redis answers (the node is not ready meanwhile): one sent, one queued.
    expect(r.sink.windowsWaiting).toBe(2);
    r.live(small, bar(4, 2, false));
    r.live(small, bar(4, 3, false));
    expect(keysOf(r.writes).filter((k) => k === small.key)).toEqual([]);
    r.release();
    await flush();
    await flush();
    const own = r.writes.filter((w) => w.key === small.key).map((w) => w.bar);
    // The whole window, oldest first, with the forming bar's newest version once.
    expect(own).toEqual([bar(1), bar(2), bar(3), bar(4, 3, false)]);
    expect(r.sink.windowsWaiting).toBe(0);
    // Once written, a live bar goes straight through.
    r.live(small, bar(4, 4, true));
    expect(r.writes.at(-1)).toEqual({ key: small.key, bar: bar(4, 4, true) });
  });

  it("a new leader's live bars wait for its heal's decision, so a series Redis lacks gets its window first", async () => {
    const r = healRig();
    const id = seriesId('XRPUSDT', '1m');
    r.windows.set(id.key, [bar(1), bar(2), bar(3)]);
    r.lead(); // the heal asks Redis what it holds
    await flush();
    r.live(id, bar(4, 1, false));
    expect(r.writes).toEqual([]);
    r.answer([0]); // Redis holds nothing of it: its window, whole
    await flush();
    await flush();
    expect(r.writes.map((w) => w.bar)).toEqual([bar(1), bar(2), bar(3), bar(4, 1, false)]);
    r.live(id, bar(4, 2, false));
    expect(r.writes).toHaveLength(5);
  });

  it('a series Redis holds gets its tail rewritten, with the bar that came during the heal', async () => {
    const r = healRig();
    const id = seriesId('SOLUSDT', '1m');
    r.windows.set(id.key, Array.from({ length: 50 }, (_, i) => bar(i)));
    r.lead();
    await flush();
    r.live(id, bar(50, 1, false));
    expect(r.writes).toEqual([]);
    r.answer([100]);
    await flush();
    // The heal's tail (10 bars) ends with the bar that came meanwhile; nothing twice.
    expect(r.writes.map((w) => w.bar.openTime / MIN)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
  });

  it('a heal that outlasts the tail (more new bars than healBars meanwhile) writes every bar it held back', async () => {
    const r = healRig();
    const id = seriesId('SOLUSDT', '1s');
    r.windows.set(id.key, Array.from({ length: 50 }, (_, i) => bar(i)));
    r.lead();
    await flush();
    for (let t = 50; t < 65; t++) r.live(id, bar(t));
    expect(r.writes).toEqual([]);
    r.answer([100]);
    await flush();
    expect(r.writes.map((w) => w.bar.openTime / MIN)).toEqual(Array.from({ length: 15 }, (_, i) => 50 + i));
  });

  it("a series whose newest bar in Redis is older than the tail (no leader for longer than healBars bars) gets every bar from that one on (reproduced: a hole of 7–13 closed bars, for good)", async () => {
    const r = healRig();
    const id = seriesId('SOLUSDT', '1s');
    r.windows.set(id.key, Array.from({ length: 50 }, (_, i) => bar(i)));
    r.lead();
    await flush();
    // Redis is full (its count says nothing of a gap), its newest bar the one of minute 30.
    r.answer([100], [30 * MIN]);
    await flush();
    expect(r.writes.map((w) => w.bar.openTime / MIN)).toEqual(Array.from({ length: 20 }, (_, i) => 30 + i));
  });

  it('a series whose newest bar in Redis is older than the whole window gets the whole window; one newer than it, the tail', async () => {
    const r = healRig();
    const older = seriesId('SOLUSDT', '1s');
    const newer = seriesId('ETHUSDT', '1s');
    for (const id of [older, newer]) r.windows.set(id.key, Array.from({ length: 50 }, (_, i) => bar(100 + i)));
    r.lead();
    await flush();
    r.answer([100, 100], [20 * MIN, 200 * MIN]);
    await flush();
    const of = (id: SeriesId) => r.writes.filter((w) => w.key === id.key).map((w) => w.bar.openTime / MIN);
    expect(of(older)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    expect(of(newer)).toEqual(Array.from({ length: 10 }, (_, i) => 140 + i));
  });
});
