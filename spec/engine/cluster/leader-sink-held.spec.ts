import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import type { WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import { LeaderSink } from '../../../engine/src/cluster/leader-sink.ts';
import { windowAsWrites } from '../../helpers/window-as-writes.ts';

/**
 * Found in review: a write that failed (Redis away) was kept and retried, also for a series the node
 * stopped meanwhile. Its keys had been set to expire (or dropped, past the freed bound), and the late
 * write made them again with no expiry: kept for good, for nobody. Now a series the node no longer runs
 * loses its kept writes (it is seeded whole if it starts again). Pure logic: a writer that fails while
 * the test says Redis is away, a lease that leads.
 */
const MIN = 60_000;
const bar = (t: number): Bar => ({ openTime: t * MIN, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: true });
const A = seriesId('BTCUSDT', '1m');
const B = seriesId('ETHUSDT', '1m');

function rig() {
  const written: string[] = [];
  const inFlight: Array<() => void> = [];
  const r = { up: true, hold: false, held: new Set([A.key, B.key]) };
  const writer = {
    write(_token: string, id: SeriesId): Promise<WriteResult> {
      const settle = (ok: (v: WriteResult) => void, fail: (e: Error) => void) => {
        if (!r.up) return fail(new Error('Connection is closed.'));
        written.push(id.key);
        ok({ kind: 'written', epoch: 'e', offset: written.length });
      };
      return new Promise((ok, fail) => (r.hold ? inFlight.push(() => settle(ok, fail)) : settle(ok, fail)));
    },
    storedExtents: (ids: readonly SeriesId[]) => Promise.resolve(ids.map(() => ({ count: 1000 }))),
    writeWindow: windowAsWrites((t, id): Promise<WriteResult> => writer.write(t, id)),
  };
  const lease = { leader$: new BehaviorSubject(true), state: { leader: true, term: 1, token: 't' }, stepDown: () => undefined };
  const sink = new LeaderSink({ writer, lease, series: () => [], tail: () => [], held: (id) => r.held.has(id.key) });
  return { r, sink, written, answer: () => inFlight.splice(0).forEach((f) => f()) };
}

const until = async (pred: () => boolean) => {
  for (const end = Date.now() + 5000; !pred(); await new Promise((res) => setTimeout(res, 20))) if (Date.now() > end) throw new Error('timed out');
};

describe('LeaderSink: kept writes of a series the node stopped are not retried', () => {
  it('a failed write of a series stopped before the retry is dropped; one still running is written', async () => {
    const { r, sink, written } = rig();
    await until(() => !sink.healing);
    r.up = false;
    sink.publish(A, bar(1));
    sink.publish(B, bar(1));
    await until(() => sink.failing?.pending === 2);
    r.held.delete(A.key); // A freed while Redis was away
    r.up = true;
    await until(() => written.includes(B.key));
    await until(() => sink.failing === undefined);
    expect(written).toEqual([B.key]);
    sink.stop();
  });

  it('a write in flight that fails after its series stopped is not kept', async () => {
    const { r, sink, written, answer } = rig();
    await until(() => !sink.healing);
    r.hold = true;
    sink.publish(A, bar(2));
    r.held.delete(A.key);
    r.up = false;
    answer();
    await new Promise((res) => setTimeout(res, 20));
    expect(sink.failing?.pending ?? 0).toBe(0);
    r.up = true;
    r.hold = false;
    await new Promise((res) => setTimeout(res, 600)); // past the first retry's wait
    expect(written).toEqual([]);
    sink.stop();
  });
});
