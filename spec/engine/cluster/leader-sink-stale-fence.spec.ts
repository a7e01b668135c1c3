import { BehaviorSubject, distinctUntilChanged, map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import type { Leadership } from '../../../engine/src/cluster/leader-lease.ts';
import { LeaderSink } from '../../../engine/src/cluster/leader-sink.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';

/**
 * A write queued in one term of a node and answered "fenced" once the node leads again (its lease
 * lapsed behind a backlog, then it won the next term) used to step the new term down: the token it
 * leads under stayed in Redis for a lease's time while nobody wrote (a code review found it). Only a
 * refusal under the token the node leads under now steps it down. Pure logic: a writer whose answers
 * wait, a lease that is a subject.
 */
const tick = () => new Promise((r) => setTimeout(r, 5));
const bar = (t: number): Bar => ({ openTime: t * 60_000, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: false });

describe('LeaderSink: a refusal of an earlier term', () => {
  it('does not step down the term the node leads in now; a refusal under the current token does', async () => {
    const state = new BehaviorSubject<Leadership>({ leader: true, term: 1, token: 'T1' });
    const stepDowns: string[] = [];
    const lease = {
      leader$: state.pipe(
        map((s) => s.leader),
        distinctUntilChanged(),
      ),
      get state() {
        return state.value;
      },
      stepDown(reason: string) {
        if (!state.value.leader) return;
        stepDowns.push(`${state.value.token}: ${reason}`);
        state.next({ leader: false });
      },
    };
    // Redis answers later, "fenced" for any token but `holder`.
    let holder = 'T1';
    const answers: Array<() => void> = [];
    const writer = {
      write: (token: string) => new Promise<WriteResult>((resolve) => answers.push(() => resolve(token === holder ? { kind: 'written', epoch: 'e', offset: 1 } : { kind: 'fenced' }))),
      writeWindow: () => Promise.resolve({ kind: 'updates' as const, written: 0, dropped: 0 }),
      storedExtents: (ids: readonly unknown[]) => Promise.resolve(ids.map(() => ({ count: 1000 }))),
    };
    const id = seriesId('BTCUSDT', '1m');
    const sink = new LeaderSink({ writer, lease, series: () => [], tail: () => [] });
    await tick();
    sink.publish(id, bar(1)); // under T1
    // T1 lapses; the node wins the next term.
    holder = 'T2';
    state.next({ leader: false });
    state.next({ leader: true, term: 2, token: 'T2' });
    await tick();
    for (const a of answers.splice(0)) a();
    await tick();
    expect(stepDowns).toEqual([]);
    expect(state.value).toMatchObject({ leader: true, token: 'T2' });
    // A refusal under T2 itself (another node took the lease) still steps it down.
    holder = 'other';
    sink.publish(id, bar(2));
    await tick();
    for (const a of answers.splice(0)) a();
    await tick();
    expect(stepDowns).toEqual(['T2: a write was refused: the lease is no longer ours (fenced)']);
    sink.stop();
  });
});
