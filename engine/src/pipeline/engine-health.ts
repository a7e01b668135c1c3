import type { StoreHealth } from '../store/bar-store.ts';
import type { LifecycleCounts } from './series-lifecycle.ts';
import type { UpstreamStatus } from './upstream-status.ts';

export interface HealthParts {
  source: string;
  upstream(): UpstreamStatus | undefined;
  shards(): Array<{ shard: number; streams: number; connected: boolean }>;
  store(): StoreHealth;
  /** The configured series at start and how many are loaded. */
  bootstrap(): { done: boolean; series: number; total: number; custom: number; rejectedSymbols: readonly string[] };
  series(): LifecycleCounts;
  now?: () => number;
}

/**
 * `/health`: ok when the upstream is connected, the store reachable and the configured series loaded;
 * degraded otherwise (503). Also what runs: shards and their streams, series live and on demand.
 */
export function engineHealth(parts: HealthParts): () => Record<string, unknown> & { status: 'ok' | 'degraded' } {
  const now = parts.now ?? Date.now;
  return () => {
    const up = parts.upstream();
    const store = parts.store();
    const bootstrap = parts.bootstrap();
    const connected = (up?.shards ?? 0) > 0;
    return {
      status: connected && store.reachable && bootstrap.done ? 'ok' : 'degraded',
      source: parts.source,
      upstream: { connected, shards: up?.shards ?? 0, lastFrameAgeMs: up?.lastFrameAt === undefined ? null : now() - up.lastFrameAt, streams: parts.shards() },
      store,
      bootstrap,
      series: parts.series(),
    };
  };
}
