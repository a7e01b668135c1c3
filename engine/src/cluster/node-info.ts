import type { Metrics } from '../metrics.ts';

/** `engine_node_info{node="…",role="…"} 1` in /metrics: which node of the cluster answered. */
export function nodeInfo(metrics: Metrics, node: string, role: string): void {
  const info = metrics.gauge('engine_node_info', 'This node: its NODE_ID and ROLE (value always 1)');
  info(1, { node, role });
}

/** `engine_cluster_leader` 1 while this ingest node holds the lease. */
export function leaderGauge(metrics: Metrics, leader: () => boolean): void {
  const g = metrics.gauge('engine_cluster_leader', '1 while this ingest node leads (holds the lease), else 0');
  metrics.onCollect(() => g(leader() ? 1 : 0));
}
