import { NEVER } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { FencedWriter, WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { type InstanceMember, LeaderSeries, type LeaderSeriesConfig } from '../../../engine/src/cluster/leader-series.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import type { SeriesInstance, SeriesRegistry, SeriesRequest } from '../../../engine/src/series/series-registry.ts';

const M = 60_000;
const written: Promise<WriteResult> = Promise.resolve({ kind: 'written', offset: 1, epoch: 'e' });

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
    const writer = {
      writePoints: (_t: string, _k: unknown, ps: readonly SeriesPoint[]) => {
        seeds.push(ps.map((p) => p.time / M));
        return ps.map(() => written);
      },
      writePoint: () => written,
      writeStatus: () => written,
      freeInstanceLog: () => Promise.resolve(true),
    } as unknown as FencedWriter;
    const lease = { state: { leader: true, token: 't' }, leader$: NEVER, stepDown: () => {} } as unknown as LeaderLease;
    let points: SeriesPoint[] = [1, 2, 3, 4, 5].map((m) => ({ time: m * M, value: m, closed: true }));
    const instance = { label: 'rsi', topic: 'series/rsi', state: 'live', correctedFrom: undefined as number | undefined, window: { last: (n: number) => points.slice(-n) } };
    const registry = { acquire: () => ({ instance, ready: Promise.resolve(instance), release: () => {} }) } as unknown as SeriesRegistry;
    const bars: SeriesDemand = { isLive: () => true, touch: () => {}, want: () => Promise.resolve<DemandOutcome>({ ok: true }), release: () => {} };
    const series = new LeaderSeries({ lease, writer, bufferSize: 100, staleMs: 60_000, maxInstances: 10 } as unknown as LeaderSeriesConfig);
    // What start() sets (its LeaderDemand, which reads the edges' asks from Redis, is not needed here).
    Object.assign(series as unknown as Record<string, unknown>, { registry, bars });
    const inner = series as unknown as { instances: SeriesDemand; seed(key: string): Promise<void> };
    const bar = seriesId('BTCUSDT', '1m');
    const member: InstanceMember = { symbol: bar.symbol, interval: bar.interval, key: `rsi|${bar.key}`, label: 'rsi', bar, request: { label: 'rsi' } as unknown as SeriesRequest };
    try {
      expect((await inner.instances.want(member, undefined, undefined)).ok).toBe(true);
      await inner.seed(member.key);
      inner.instances.release(member);
      // Released; its bar series repairs a hole from minute 2: the registry reruns it and says so.
      points = points.map((p) => (p.time >= 2 * M ? { ...p, value: (p.value ?? 0) + 100 } : p));
      instance.correctedFrom = 2 * M;
      series.registryDeps.onState!(instance as unknown as SeriesInstance, bar);
      instance.correctedFrom = undefined;
      // Held again within its idle time: the same instance.
      expect((await inner.instances.want(member, undefined, undefined)).ok).toBe(true);
      await inner.seed(member.key);
      expect(seeds).toEqual([
        [1, 2, 3, 4, 5],
        [2, 3, 4, 5],
      ]);
    } finally {
      series.stop();
    }
  });
});
