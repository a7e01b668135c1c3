import { describe, expect, it } from 'vitest';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import type { SeriesInstance } from '../../../engine/src/series/series-registry.ts';
import { leaderSeriesRig, written } from '../../helpers/leader-series-rig.ts';

const M = 60_000;

/**
 * The registry keeps an instance edges let go of for its idle time, and reruns it when its bar series
 * repairs a hole (`onState` with `correctedFrom`). Held again, the leader's seed wrote only from the
 * newest point it had written on, so the corrected older points never reached Redis or any edge (a
 * review). Pure logic: a writer that records what each seed writes, a lease that leads, the registry's
 * instance as a plain object.
 */
describe("the leader's seed of an instance corrected while no edge held it", () => {
  it('writes from the correction on (reproduced: from the newest point written, the corrected ones left stale)', async () => {
    const seeds: number[][] = [];
    let points: SeriesPoint[] = [1, 2, 3, 4, 5].map((m) => ({ time: m * M, value: m, closed: true }));
    const instance = { label: 'rsi', topic: 'series/rsi', state: 'live', correctedFrom: undefined as number | undefined, window: { last: (n: number) => points.slice(-n) } };
    const writePoints = (_t: string, _k: unknown, ps: readonly SeriesPoint[]) => {
      seeds.push(ps.map((p) => p.time / M));
      return ps.map(() => written);
    };
    const { series, inner, bar, member } = leaderSeriesRig({ writer: { writePoints }, instance });
    const m = member('rsi');
    try {
      expect((await inner.instances.want(m, undefined, undefined)).ok).toBe(true);
      await inner.seed(m.key);
      inner.instances.release(m);
      // Released; its bar series repairs a hole from minute 2: the registry reruns it and says so.
      points = points.map((p) => (p.time >= 2 * M ? { ...p, value: (p.value ?? 0) + 100 } : p));
      instance.correctedFrom = 2 * M;
      series.registryDeps.onState!(instance as unknown as SeriesInstance, bar);
      instance.correctedFrom = undefined;
      // Held again within its idle time: the same instance.
      expect((await inner.instances.want(m, undefined, undefined)).ok).toBe(true);
      await inner.seed(m.key);
      expect(seeds).toEqual([
        [1, 2, 3, 4, 5],
        [2, 3, 4, 5],
      ]);
    } finally {
      series.stop();
    }
  });
});
