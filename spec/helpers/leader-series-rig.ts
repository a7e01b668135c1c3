import { NEVER } from 'rxjs';
import type { FencedWriter, WriteResult } from '../../engine/src/cluster/fenced-writer.ts';
import type { LeaderLease } from '../../engine/src/cluster/leader-lease.ts';
import { type InstanceMember, LeaderSeries, type LeaderSeriesConfig } from '../../engine/src/cluster/leader-series.ts';
import { seriesId } from '../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../engine/src/pipeline/series-demand.ts';
import type { SeriesPoint } from '../../engine/src/series/define-series.ts';
import type { SeriesRegistry, SeriesRequest } from '../../engine/src/series/series-registry.ts';

export const written: Promise<WriteResult> = Promise.resolve({ kind: 'written', offset: 1, epoch: 'e' });

/** The registry's instance for these specs: a label, a topic, a state and a window of points. */
export interface RigInstance {
  label: string;
  topic: string;
  state: string;
  correctedFrom?: number;
  window: { last(n: number): SeriesPoint[] };
}

/**
 * A leader's LeaderSeries with every dependency a fake (pure logic): a lease that leads, a writer that
 * answers `written` (each call overridable), a registry that hands out `instance` (or whatever
 * `acquire` does), a bar lifecycle that answers `bars()`. Its LeaderDemand (Redis) is not started:
 * `inner` reaches what start() and the demand would call.
 */
export function leaderSeriesRig(o: { writer?: Partial<Record<'writePoints' | 'writePoint' | 'writeStatus' | 'freeInstanceLog', unknown>>; instance?: RigInstance; acquire?: (req: SeriesRequest) => unknown; bars?: () => DemandOutcome; maxInstances?: number }) {
  const writer = {
    writePoints: (_t: string, _k: unknown, ps: readonly SeriesPoint[]) => ps.map(() => written),
    writePoint: () => written,
    writeStatus: () => written,
    freeInstanceLog: () => Promise.resolve(true),
    ...o.writer,
  } as unknown as FencedWriter;
  const lease = { state: { leader: true, token: 't' }, leader$: NEVER, stepDown: () => {} } as unknown as LeaderLease;
  const instance = o.instance;
  const registry = { acquire: o.acquire ?? (() => ({ instance, ready: Promise.resolve(instance), release: () => {} })) } as unknown as SeriesRegistry;
  const bars: SeriesDemand = { isLive: () => true, touch: () => {}, want: () => Promise.resolve(o.bars?.() ?? { ok: true }), release: () => {} };
  const series = new LeaderSeries({ lease, writer, bufferSize: 100, staleMs: 60_000, maxInstances: o.maxInstances ?? 10 } as unknown as LeaderSeriesConfig);
  // What start() sets (its LeaderDemand, which reads the edges' asks from Redis, is not needed here).
  Object.assign(series as unknown as Record<string, unknown>, { registry, bars });
  const inner = series as unknown as { instances: SeriesDemand; seed(key: string): Promise<void> };
  const bar = seriesId('BTCUSDT', '1m');
  const member = (label: string): InstanceMember => ({ symbol: bar.symbol, interval: bar.interval, key: `${label}|${bar.key}`, label, bar, request: { label } as unknown as SeriesRequest });
  return { series, inner, bar, member };
}
