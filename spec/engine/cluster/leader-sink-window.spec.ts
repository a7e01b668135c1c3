import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import type { WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import { LeaderSink } from '../../../engine/src/cluster/leader-sink.ts';
import { windowAsWrites } from '../../helpers/window-as-writes.ts';

/**
 * The leader answers an edge `live` for an on-demand series once the series' window is in Redis:
 * writeWindow's promise settles when its writes did (or the node stopped leading). Answered before,
 * an edge read the part written so far (many windows waiting: a short first `historical`, then a
 * second one; an attacker-style probe saw the second). Pure logic: a writer whose answers the test
 * releases, a lease that leads.
 */
const MIN = 60_000;
const bar = (t: number): Bar => ({ openTime: t * MIN, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: true });
const A = seriesId('SOLUSDT', '1m');

function rig() {
  const inFlight: Array<() => void> = [];
  const writer = {
    write: (_token: string, _id: SeriesId): Promise<WriteResult> => new Promise((ok) => inFlight.push(() => ok({ kind: 'written', epoch: 'e', offset: 1 }))),
    storedExtents: (ids: readonly SeriesId[]) => Promise.resolve(ids.map(() => ({ count: 1000 }))),
    writeWindow: windowAsWrites((t, id): Promise<WriteResult> => writer.write(t, id)),
  };
  const leader$ = new BehaviorSubject(true);
  const lease = { leader$, state: { leader: true, term: 1, token: 't' }, stepDown: () => undefined };
  const sink = new LeaderSink({ writer, lease, series: () => [], tail: () => [bar(1), bar(2), bar(3)], held: () => true });
  return { sink, lease, leader$, inFlight };
}

const settledYet = async (p: Promise<void>) => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  return done;
};

describe('LeaderSink.writeWindow: settles once the window is in Redis', () => {
  it('not while any of its writes waits for Redis; then at once', async () => {
    const { sink, inFlight } = rig();
    const written = sink.writeWindow(A);
    await new Promise((r) => setTimeout(r, 20));
    expect(inFlight.length).toBe(3);
    inFlight.splice(0, 2).forEach((f) => f());
    expect(await settledYet(written)).toBe(false);
    inFlight.splice(0).forEach((f) => f());
    expect(await settledYet(written)).toBe(true);
    sink.stop();
  });

  it('settles when the node stops leading (nothing more is written here) or stops', async () => {
    const { sink, lease, leader$, inFlight } = rig();
    const first = sink.writeWindow(A);
    await new Promise((r) => setTimeout(r, 20));
    lease.state.leader = false;
    leader$.next(false);
    // Its writes were sent: they settle with Redis's answers.
    inFlight.splice(0).forEach((f) => f());
    expect(await settledYet(first)).toBe(true);
    // Not leading: nothing to wait for.
    expect(await settledYet(sink.writeWindow(A))).toBe(true);
    sink.stop();
  });
});
