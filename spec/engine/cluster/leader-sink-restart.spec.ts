import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import type { BarWriteResult, WindowResult } from '../../../engine/src/cluster/fenced-writer.ts';
import type { Leadership } from '../../../engine/src/cluster/leader-lease.ts';
import { LeaderSink } from '../../../engine/src/cluster/leader-sink.ts';

const MIN = 60_000;
const bar = (t: number): Bar => ({ openTime: t * MIN, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: true });

/**
 * An update answered with offset 1 began its series' log. Mid-term that is a log Redis lost (deleted,
 * evicted): its window is written again, said and counted. A series' own window write that failed is
 * written again whole, and nothing is said lost (a diff review: when its bars went again as updates,
 * the first began the log and was said and counted as lost). Pure logic: a writer that records, a
 * lease that is a subject.
 */
function rig(opts: { windowFailsFirst: boolean }) {
  const logs: string[] = [];
  const offsets = new Map<string, number>();
  /** Series whose log is gone whole: a live update (begins false) is answered `lost`. */
  const gone = new Set<string>();
  const begun: boolean[] = [];
  let windowCalls = 0;
  const writer = {
    // Redis numbers a log from 1: no log yet, or one whose position was lost.
    write(_t: string, id: SeriesId, _b: Bar, { begins = true } = {}): Promise<BarWriteResult> {
      begun.push(begins);
      if (gone.has(id.key) && !begins) return Promise.resolve({ kind: 'lost' });
      const offset = (offsets.get(id.key) ?? 0) + 1;
      offsets.set(id.key, offset);
      return Promise.resolve({ kind: 'written', epoch: 'e', offset });
    },
    writeWindow(_t: string, id: SeriesId, bars: readonly Bar[]): Promise<WindowResult> {
      windowCalls++;
      if (opts.windowFailsFirst && windowCalls === 1) return Promise.reject(new Error('connect ECONNREFUSED'));
      gone.delete(id.key);
      offsets.set(id.key, Math.max(offsets.get(id.key) ?? 0, 1));
      return Promise.resolve({ kind: 'updates', written: 0, dropped: bars.length });
    },
    storedExtents: (ids: readonly SeriesId[]) => Promise.resolve(ids.map(() => ({ count: 1000 }))),
  };
  const state = new BehaviorSubject<Leadership>({ leader: true, term: 1, token: 't' });
  const lease = {
    leader$: new BehaviorSubject(false),
    get state() {
      return state.value;
    },
    stepDown: () => undefined,
  };
  const window = Array.from({ length: 50 }, (_, i) => bar(i));
  const sink = new LeaderSink({ writer, lease, series: () => [], tail: () => window, windowBars: 1000, log: (l, m) => logs.push(`${l}: ${m}`) });
  return { sink, logs, offsets, gone, begun, windowCalls: () => windowCalls };
}

describe('LeaderSink: an update that began its series log', () => {
  const id = seriesId('BTCUSDT', '1m');
  const lost = (logs: string[]) => logs.filter((l) => l.includes('began again in redis'));

  it('a window write that failed goes again whole, nothing said lost', async () => {
    const r = rig({ windowFailsFirst: true });
    // Settles once the second round wrote it (after a backoff).
    await r.sink.writeWindow(id);
    expect(r.windowCalls()).toBe(2);
    expect(r.sink.restarts).toBe(0);
    expect(lost(r.logs)).toEqual([]);
  });

  it('mid-term (its log existed), is a log Redis lost: written again, said once and counted', async () => {
    const r = rig({ windowFailsFirst: false });
    await r.sink.writeWindow(id);
    // Redis loses the log's position (a delete, an eviction): the next update begins it again.
    r.offsets.delete(id.key);
    r.sink.publish(id, bar(50));
    await new Promise((done) => setTimeout(done, 50));
    expect(r.windowCalls()).toBe(2);
    expect(r.sink.restarts).toBe(1);
    expect(lost(r.logs)).toHaveLength(1);
  });

  it('a live update that finds its log gone whole (answered lost) begins nothing: its window is written, said once and counted', async () => {
    const r = rig({ windowFailsFirst: false });
    await r.sink.writeWindow(id);
    r.gone.add(id.key);
    r.sink.publish(id, bar(50));
    r.sink.publish(id, bar(50));
    await new Promise((done) => setTimeout(done, 50));
    // Live updates may not begin a log.
    expect(r.begun).toEqual([false, false]);
    expect(r.windowCalls()).toBe(2);
    expect(r.sink.restarts).toBe(1);
    expect(r.logs.filter((l) => l.includes('the log of BTCUSDT:1m is gone from redis'))).toHaveLength(1);
    // Written again: the next live update is written.
    r.sink.publish(id, bar(51));
    await new Promise((done) => setTimeout(done, 20));
    expect(r.offsets.get(id.key)).toBe(2);
  });
});
