import { describe, expect, it } from 'vitest';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import type { SeriesRequest } from '../../../engine/src/series/series-registry.ts';
import { leaderSeriesRig, written } from '../../helpers/leader-series-rig.ts';

const points: SeriesPoint[] = Array.from({ length: 1000 }, (_, m) => ({ time: m * 60_000, value: m, closed: true }));

/**
 * The leader seeds each instance's window into Redis once it is live (writePoints encodes its up to
 * BUFFER_SIZE points as it is called). Many instances that go live together share turns of about
 * 4 ms: they were seeded in one go, and 176 sockets asking for ~400 new instances through an edge
 * held the leader's loop up to 0.41–0.43 s (an attacker-style probe; 0.16–0.20 s with seeds in turns). Here the writer stands in
 * for that encoding with 2 ms of work per call, and counts the calls of each event-loop turn.
 */
describe("the leader's seeds of instances that go live together", () => {
  it('run a few a turn, not all in one', async () => {
    let turn = 0;
    const perTurn = new Map<number, number>();
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const writePoints = (_t: string, _k: unknown, ps: readonly SeriesPoint[]) => {
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
      const until = performance.now() + 2;
      while (performance.now() < until);
      return ps.map(() => written);
    };
    const acquire = (req: SeriesRequest) => {
      const instance = { label: req.label, topic: `series/${req.label}`, state: 'live', window: { last: (n: number) => points.slice(-n) } };
      return { instance, ready: Promise.resolve(instance), release: () => {} };
    };
    const { series, inner, member } = leaderSeriesRig({ writer: { writePoints }, acquire, maxInstances: 500 });
    const members = Array.from({ length: 40 }, (_, i) => member(`rsi:period=${i + 2}`));
    try {
      for (const m of members) expect((await inner.instances.want(m, undefined, undefined)).ok).toBe(true);
      // LeaderDemand answers asks read together in one turn: every seed starts in it.
      await Promise.all(members.map((m) => inner.seed(m.key)));
      expect([...perTurn.values()].reduce((a, b) => a + b, 0)).toBe(40);
      // 4 ms turns of 2 ms seeds: two or three a turn (all 40 in one before).
      expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(3);
    } finally {
      ticking = false;
      series.stop();
    }
  });
});
