import type { StoreHealth } from '../store/bar-store.ts';
import type { LifecycleCounts } from './series-lifecycle.ts';
import type { UpstreamStatus } from './upstream-status.ts';

export interface HealthParts {
  source: string;
  upstream(): UpstreamStatus | undefined;
  shards(): Array<{ shard: number; streams: number; connected: boolean; silent: number }>;
  store(): StoreHealth;
  /** Configured series live so far (native ones bootstrapped, custom intervals with their history). */
  configured(): { native: { live: number; total: number }; custom: { live: number; total: number } };
  rejectedSymbols(): readonly string[];
  series(): LifecycleCounts;
  /** Derived-series modules loaded (they are loaded before the server listens). */
  derivedModules: number;
  /** SOURCE=replay: whether it played its last frame (its silence is then no fault) and how many it played. */
  replay?: () => { done: boolean; frames: number };
  /** No frame for min(this, 10 s) reads as not live. */
  staleAfterMs: number;
  now?: () => number;
}

/**
 * Readiness (`/health`): ok only when the upstream is live (connected, frames arriving), every configured
 * series is loaded (native ones bootstrapped, custom intervals with their history) and the store is
 * reachable; `notReady` says what is missing. Also what runs: shards and their streams, series live
 * and on demand. A replay that played its last frame is ready while connected (`replay: { done, frames }`):
 * nothing more is due.
 */
export function engineHealth(parts: HealthParts): () => Record<string, unknown> & { status: 'ok' | 'degraded' } {
  const now = parts.now ?? Date.now;
  return () => {
    const up = parts.upstream();
    const store = parts.store();
    const { native, custom } = parts.configured();
    const connected = (up?.shards ?? 0) > 0;
    const lastFrameAgeMs = up?.lastFrameAt === undefined ? null : now() - up.lastFrameAt;
    const replay = parts.replay?.();
    const live = connected && ((lastFrameAgeMs !== null && lastFrameAgeMs <= Math.min(10_000, parts.staleAfterMs)) || replay?.done === true);
    const bootstrapDone = native.live === native.total;
    const shards = parts.shards();
    // Not a reason to leave the load balancer: the other series are served, and these re-synced from REST.
    const silentStreams = shards.reduce((n, s) => n + s.silent, 0);
    const notReady: string[] = [];
    if (!connected) notReady.push('upstream not connected');
    else if (!live) notReady.push('upstream connected but no recent frame');
    if (!bootstrapDone) notReady.push(`bootstrap ${native.live}/${native.total} series`);
    if (custom.live < custom.total) notReady.push(`custom intervals loading ${custom.live}/${custom.total}`);
    if (!store.reachable) notReady.push('store unreachable');
    return {
      status: notReady.length === 0 ? 'ok' : 'degraded',
      notReady,
      source: parts.source,
      ...(replay ? { replay } : {}),
      upstream: { connected, live, shards: up?.shards ?? 0, lastFrameAgeMs, silentStreams, streams: shards },
      store,
      bootstrap: { done: bootstrapDone, series: native.live, total: native.total, custom: custom.total, customLoaded: custom.live, rejectedSymbols: parts.rejectedSymbols() },
      series: parts.series(),
      derived: { modules: parts.derivedModules },
    };
  };
}
