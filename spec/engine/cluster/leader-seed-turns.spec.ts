import { NEVER } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { FencedWriter, WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { type InstanceMember, LeaderSeries, type LeaderSeriesConfig } from '../../../engine/src/cluster/leader-series.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import type { SeriesInstance, SeriesRegistry, SeriesRequest } from '../../../engine/src/series/series-registry.ts';

const points: SeriesPoint[] = Array.from({ length: 1000 }, (_, m) => ({ time: m * 60_000, value: m, closed: true }));
const written: Promise<WriteResult> = Promise.resolve({ kind: 'written', offset: 1, epoch: 'e' });

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
    const writer = {
      writePoints: (_t: string, _k: unknown, ps: readonly SeriesPoint[]) => {
        perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
        const until = performance.now() + 2;
        while (performance.now() < until);
        return ps.map(() => written);
      },
      writePoint: () => written,
      writeStatus: () => written,
      freeInstanceLog: () => Promise.resolve(true),
    } as unknown as FencedWriter;
    const lease = { state: { leader: true, token: 't' }, leader$: NEVER, stepDown: () => {} } as unknown as LeaderLease;
    const registry = {
      acquire: (req: SeriesRequest) => {
        const instance = { label: req.label, topic: `series/${req.label}`, state: 'live', window: { last: (n: number) => points.slice(-n) } } as unknown as SeriesInstance;
        return { instance, ready: Promise.resolve(instance), release: () => {} };
      },
    } as unknown as SeriesRegistry;
    const bars: SeriesDemand = { isLive: () => true, touch: () => {}, want: () => Promise.resolve<DemandOutcome>({ ok: true }), release: () => {} };
    const series = new LeaderSeries({ lease, writer, bufferSize: 1000, staleMs: 60_000, maxInstances: 500 } as unknown as LeaderSeriesConfig);
    // What start() sets (its LeaderDemand, which reads the edges' asks from Redis, is not needed here).
    Object.assign(series as unknown as Record<string, unknown>, { registry, bars });
    const inner = series as unknown as { instances: SeriesDemand; seed(key: string): Promise<void> };
    const bar = seriesId('BTCUSDT', '1m');
    const members: InstanceMember[] = Array.from({ length: 40 }, (_, i) => {
      const label = `rsi:period=${i + 2}`;
      return { symbol: bar.symbol, interval: bar.interval, key: `${label}|${bar.key}`, label, bar, request: { label } as unknown as SeriesRequest };
    });
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
