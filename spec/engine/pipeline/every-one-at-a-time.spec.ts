import { describe, expect, it } from 'vitest';
import { everyOneAtATime } from '../../../engine/src/pipeline/every-one-at-a-time.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The exchange clock's periodic sync: a run that waits (REST refused, a ban) holds the next ticks back
 * rather than queueing one per tick (a review: 24 requests in a second when a 4 s ban lifted), and
 * is told to give up after a period.
 */
describe('everyOneAtATime', () => {
  it('skips ticks while a run is pending; the run is aborted after a period; stopped, none more', async () => {
    const runs: Array<{ signal: AbortSignal; done: () => void }> = [];
    const stop = everyOneAtATime((signal) => new Promise<void>((done) => runs.push({ signal, done })), 20);
    await sleep(200);
    // About ten ticks, one run: it waits (ignoring its abort, as a stuck call would).
    expect(runs).toHaveLength(1);
    expect(runs[0]!.signal.aborted).toBe(true);
    runs[0]!.done();
    await sleep(100);
    expect(runs.length).toBe(2);
    stop();
    runs[1]!.done();
    await sleep(60);
    expect(runs.length).toBe(2);
  });
});
