import type { Metrics } from '../metrics.ts';
import type { LifecycleCounts } from './series-lifecycle.ts';

/** /metrics for the whole-exchange engine: series live and on demand, shards and their streams, REST weight. */
export function seriesGauges(
  metrics: Metrics,
  counts: () => LifecycleCounts,
  shards: () => Array<{ shard: number; streams: number; connected: boolean; silent: number }>,
  restWeight: () => number,
  restWaiting: () => Record<string, number>,
): void {
  // Two families, one label set each: one family mixing {state} and {kind} lines summed every series twice.
  const series = metrics.gauge('engine_series', 'Series by state: live, or loading (bootstrapping from REST)');
  const byKind = metrics.gauge('engine_series_by_kind', 'Series by kind: configured (SYMBOLS x INTERVALS, kept for good), or on_demand (started for a client, freed when idle)');
  const queued = metrics.gauge('engine_bootstrap_queued', 'Series waiting for their REST bootstrap');
  const shardCount = metrics.gauge('engine_upstream_shards', 'Upstream WebSocket connections (shards)');
  const streams = metrics.gauge('engine_upstream_streams', 'Streams subscribed per upstream shard');
  const silent = metrics.gauge('engine_upstream_silent_streams', 'Streams the exchange went silent on while their connection delivered others, not heard since (re-synced from REST meanwhile)');
  const weight = metrics.gauge('engine_rest_weight_reserved', 'REST weight used or reserved by the engine in the current minute');
  const waiting = metrics.gauge('engine_rest_waiting', 'REST calls waiting for a slot or budget, by lane: live (configured series), held (on-demand series\' fills and resyncs), start (on-demand bootstraps), client (history)');
  let shown = new Set<string>();
  metrics.onCollect(() => {
    const c = counts();
    series(c.live, { state: 'live' });
    series(c.loading, { state: 'loading' });
    byKind(c.pinned, { kind: 'configured' });
    byKind(c.onDemand, { kind: 'on_demand' });
    queued(c.queued);
    const list = shards();
    shardCount(list.length);
    // A closed shard's line reads 0 rather than its last count.
    const now = new Set(list.map((s) => String(s.shard)));
    for (const s of shown) if (!now.has(s)) streams(0, { shard: s });
    for (const s of list) streams(s.streams, { shard: String(s.shard) });
    shown = now;
    silent(list.reduce((n, s) => n + s.silent, 0));
    weight(restWeight());
    for (const [lane, n] of Object.entries(restWaiting())) waiting(n, { lane });
  });
}
