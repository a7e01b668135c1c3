import type { Redis } from 'ioredis';
import { EdgeDemand, type EdgeDemandConfig } from '../../engine/src/cluster/edge-demand.ts';
import type { DemandKeys } from '../../engine/src/cluster/cluster-keys.ts';

/**
 * An edge's demand with no feed behind it: every symbol trades, the interval is 1m, nothing is
 * configured, and an ask that passed the limits waits for the leader's answer. `o` overrides the rest.
 */
export function bareEdgeDemand(redis: Redis, keys: DemandKeys, node: string, o: Partial<EdgeDemandConfig> = {}): EdgeDemand {
  return new EdgeDemand({
    redis,
    keys,
    node,
    catalog: { isTrading: () => true, isInterval: (i) => i === '1m', intervals: () => ['1m'] },
    configured: () => false,
    feed: { follow: async () => {}, unfollowAndFree: async () => {}, isLoaded: () => false, isWritten: () => false },
    free: () => {},
    maxSeries: 100,
    idleMs: 60_000,
    touchEveryMs: 1000,
    answerTimeoutMs: 60_000,
    ...o,
  });
}
