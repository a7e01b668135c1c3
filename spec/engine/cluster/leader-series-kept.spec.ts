import { NEVER } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { FencedWriter, WriteResult } from '../../../engine/src/cluster/fenced-writer.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { type InstanceMember, LeaderSeries, type LeaderSeriesConfig } from '../../../engine/src/cluster/leader-series.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { SeriesBusyError } from '../../../engine/src/series/series-errors.ts';
import type { SeriesRegistry, SeriesRequest } from '../../../engine/src/series/series-registry.ts';

const written: Promise<WriteResult> = Promise.resolve({ kind: 'written', offset: 1, epoch: 'e' });

/**
 * The leader names an instance's log in the cluster's kept set when an edge asks for it, before it
 * knows the instance will run. One refused (at the registry's caps, or its bar series refused) or let
 * go before its seed stayed named there, and in the leader's memory, for the rest of the term; labels
 * are the clients' choice, so every refused ask grew both (a review: 14 after 20 refused asks). Pure
 * logic: a writer that records each keep (ttl 0) and free, a lease that leads.
 */
describe("the kept set of the leader's derived-series logs", () => {
  it('names only what it holds: a refused ask, or one let go before its seed, is freed again (reproduced: kept for the term)', async () => {
    const calls: string[] = [];
    const writer = {
      writePoints: () => [],
      writePoint: () => written,
      writeStatus: () => written,
      freeInstanceLog: (_t: string, member: string, _k: unknown, ttlMs: number) => {
        calls.push(`${ttlMs === 0 ? 'keep' : 'free'} ${member}`);
        return Promise.resolve(true);
      },
    } as unknown as FencedWriter;
    const lease = { state: { leader: true, token: 't' }, leader$: NEVER, stepDown: () => {} } as unknown as LeaderLease;
    const registry = {
      acquire: () => {
        throw new SeriesBusyError('too many derived series in use (MAX_SERIES_INSTANCES=2); try again later');
      },
    } as unknown as SeriesRegistry;
    let barOutcome: DemandOutcome = { ok: true };
    const bars: SeriesDemand = { isLive: () => true, touch: () => {}, want: () => Promise.resolve(barOutcome), release: () => {} };
    const series = new LeaderSeries({ lease, writer, bufferSize: 100, staleMs: 60_000, maxInstances: 2 } as unknown as LeaderSeriesConfig);
    Object.assign(series as unknown as Record<string, unknown>, { registry, bars });
    const inner = series as unknown as { instances: SeriesDemand };
    const bar = seriesId('BTCUSDT', '1m');
    const member = (label: string): InstanceMember => ({ symbol: bar.symbol, interval: bar.interval, key: `${label}|${bar.key}`, label, bar, request: { label } as unknown as SeriesRequest });
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
    const calls: string[] = [];
    const writer = {
      writePoints: (_t: string, _k: unknown, ps: readonly unknown[]) => ps.map(() => written),
      writePoint: () => written,
      writeStatus: () => written,
      freeInstanceLog: (_t: string, member: string, _k: unknown, ttlMs: number) => {
        calls.push(`${ttlMs === 0 ? 'keep' : 'free'} ${member}`);
        return Promise.resolve(true);
      },
    } as unknown as FencedWriter;
    const lease = { state: { leader: true, token: 't' }, leader$: NEVER, stepDown: () => {} } as unknown as LeaderLease;
    const instance = { label: 'sma', topic: 'series/sma', state: 'live', window: { last: () => [] } };
    const registry = { acquire: () => ({ instance, ready: Promise.resolve(instance), release: () => {} }) } as unknown as SeriesRegistry;
    const bars: SeriesDemand = { isLive: () => true, touch: () => {}, want: () => Promise.resolve<DemandOutcome>({ ok: true }), release: () => {} };
    const series = new LeaderSeries({ lease, writer, bufferSize: 100, staleMs: 60_000, maxInstances: 2 } as unknown as LeaderSeriesConfig);
    Object.assign(series as unknown as Record<string, unknown>, { registry, bars });
    const inner = series as unknown as { instances: SeriesDemand; seed(key: string): Promise<void> };
    const bar = seriesId('BTCUSDT', '1m');
    const m: InstanceMember = { symbol: bar.symbol, interval: bar.interval, key: `sma|${bar.key}`, label: 'sma', bar, request: { label: 'sma' } as unknown as SeriesRequest };
    expect((await inner.instances.want(m, undefined, undefined)).ok).toBe(true);
    await inner.seed(m.key);
    // As start() sets it: LeaderDemand's stop releases what it holds (releaseAll).
    Object.assign(series as unknown as Record<string, unknown>, { demand: { stop: () => inner.instances.release(m) } });
    series.stop();
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toEqual([`keep ${m.key}`]);
  });
});
