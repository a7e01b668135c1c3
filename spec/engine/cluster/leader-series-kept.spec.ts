import { describe, expect, it } from 'vitest';
import type { DemandOutcome } from '../../../engine/src/pipeline/series-demand.ts';
import { SeriesBusyError } from '../../../engine/src/series/series-errors.ts';
import { leaderSeriesRig } from '../../helpers/leader-series-rig.ts';

/** A writer's `freeInstanceLog` that records each keep (ttl 0) and free. */
function recorder() {
  const calls: string[] = [];
  const freeInstanceLog = (_t: string, member: string, _k: unknown, ttlMs: number) => {
    calls.push(`${ttlMs === 0 ? 'keep' : 'free'} ${member}`);
    return Promise.resolve(true);
  };
  return { calls, freeInstanceLog };
}

/**
 * The leader names an instance's log in the cluster's kept set when an edge asks for it, before it
 * knows the instance will run. One refused (at the registry's caps, or its bar series refused) or let
 * go before its seed stayed named there, and in the leader's memory, for the rest of the term; labels
 * are the clients' choice, so every refused ask grew both (a review: 14 after 20 refused asks). And a
 * stopping leader freed every log it held, which edges still follow. Pure logic (leader-series-rig).
 */
describe("the kept set of the leader's derived-series logs", () => {
  it('names only what it holds: a refused ask, or one let go before its seed, is freed again (reproduced: kept for the term)', async () => {
    const { calls, freeInstanceLog } = recorder();
    let barOutcome: DemandOutcome = { ok: true };
    const { series, inner, member } = leaderSeriesRig({
      writer: { freeInstanceLog },
      acquire: () => {
        throw new SeriesBusyError('too many derived series in use (MAX_SERIES_INSTANCES=2); try again later');
      },
      bars: () => barOutcome,
      maxInstances: 2,
    });
    try {
      // At the registry's caps.
      expect(await inner.instances.want(member('rsi:period=31'), undefined, undefined)).toMatchObject({ ok: false, code: 'series_busy' });
      // Its bar series refused.
      barOutcome = { ok: false, code: 'series_capacity', message: 'full' };
      expect(await inner.instances.want(member('rsi:period=32'), undefined, undefined)).toMatchObject({ ok: false, code: 'series_capacity' });
      await new Promise((r) => setTimeout(r, 10));
      expect(calls).toEqual(['keep rsi:period=31|BTCUSDT:1m', 'free rsi:period=31|BTCUSDT:1m', 'keep rsi:period=32|BTCUSDT:1m', 'free rsi:period=32|BTCUSDT:1m']);
    } finally {
      series.stop();
    }
  });

  it("a leader's stop frees none of the logs it holds: they are the next leader's, and edges follow them (reproduced: every one set to expire at each rolling restart)", async () => {
    const { calls, freeInstanceLog } = recorder();
    const instance = { label: 'sma', topic: 'series/sma', state: 'live', window: { last: () => [] } };
    const { series, inner, member } = leaderSeriesRig({ writer: { freeInstanceLog }, instance, maxInstances: 2 });
    const m = member('sma');
    expect((await inner.instances.want(m, undefined, undefined)).ok).toBe(true);
    await inner.seed(m.key);
    // As start() sets it: LeaderDemand's stop releases what it holds (releaseAll).
    Object.assign(series as unknown as Record<string, unknown>, { demand: { stop: () => inner.instances.release(m) } });
    series.stop();
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toEqual([`keep ${m.key}`]);
  });
});
