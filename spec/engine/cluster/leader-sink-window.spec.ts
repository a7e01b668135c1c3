import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import type { WindowResult, WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import { LeaderSink } from '../../../engine/src/cluster/leader-sink.ts';
import { until } from '../../helpers/until.ts';
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

describe('LeaderSink: a window whose write failed', () => {
  /** A writer whose window writes fail while `failing` is set; every call recorded. */
  function failingRig(stored: () => Promise<Array<{ count: number }>> = () => Promise.resolve([])) {
    const calls: string[] = [];
    const w = { failing: true };
    const writer = {
      write: (_t: string, _id: SeriesId, b: Bar): Promise<WriteResult> => {
        calls.push(`bar ${b.openTime / MIN}`);
        return Promise.resolve({ kind: 'written', epoch: 'e', offset: 2 });
      },
      writeWindow: (_t: string, _id: SeriesId, bars: readonly Bar[]): Promise<WindowResult> => {
        calls.push(`window ${bars.length}`);
        return w.failing ? Promise.reject(new Error('Connection is closed.')) : Promise.resolve({ kind: 'seeded', epoch: 'e' });
      },
      storedExtents: stored,
    };
    const leader$ = new BehaviorSubject(false);
    const lease = { leader$, state: { leader: true, term: 1, token: 't' }, stepDown: () => undefined };
    const sink = new LeaderSink({ writer, lease, series: () => [A], tail: () => [bar(1), bar(2), bar(3)], windowBars: 1000, held: () => true });
    return { sink, calls, w, leader$ };
  }

  it('goes again whole after a backoff; its live bars wait with it, and so does whoever waits for it (reproduced: a live bar began the log, then the window as older updates; the edge told live served 1 bar)', async () => {
    const { sink, calls, w } = failingRig();
    const written = sink.writeWindow(A);
    await until(() => calls.length === 1, 1000, 'the first write');
    sink.publish(A, bar(4));
    expect(await settledYet(written)).toBe(false);
    expect(calls).toEqual(['window 3']);
    expect(sink.windowsWaiting).toBe(1);
    w.failing = false;
    await until(() => calls.length === 2, 3000, 'the second round');
    expect(calls).toEqual(['window 3', 'window 3']);
    expect(await settledYet(written)).toBe(true);
    expect(sink.windowsWaiting).toBe(0);
    // Written: live bars go as updates again.
    sink.publish(A, bar(5));
    expect(calls.at(-1)).toBe('bar 5');
    sink.stop();
  });

  it('counts its bars as kept writes until it is written (reproduced: the gauge read 0 through a spell in which only windows failed)', async () => {
    const { sink, calls, w } = failingRig();
    void sink.writeWindow(A);
    await until(() => calls.length === 1, 1000, 'the first write');
    await until(() => sink.failing !== undefined, 1000, 'the failure');
    expect(sink.failing?.pending).toBe(3);
    w.failing = false;
    await until(() => sink.failing === undefined, 3000, 'the second round written');
    expect(calls).toEqual(['window 3', 'window 3']);
    sink.stop();
  });

  it("a takeover that cannot read what Redis holds writes whole windows, not the tails alone (which began a log Redis lacked with 10 bars)", async () => {
    const { sink, calls, w, leader$ } = failingRig(() => Promise.reject(new Error('Connection is closed.')));
    w.failing = false;
    leader$.next(true);
    await until(() => calls.length > 0, 1000, 'the heal');
    await sink.heal();
    expect(calls.every((c) => c === 'window 3')).toBe(true);
    sink.stop();
  });
});
