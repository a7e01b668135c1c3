import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { CONNECTIONS_SET_LUA } from './cluster-scripts.ts';

type WithConnections = Redis & { clusterConnectionsSet(key: string, node: string, count: number, limit: number, staleMs: number): Promise<number> };

/** An edge's counts older than this are not counted (it died); each edge refreshes its own at a third of it. */
export const CONNECTIONS_STALE_MS = 15_000;

export interface SharedConnectionsOptions {
  keyPrefix: string;
  /** This edge's NODE_ID (its field in each address's hash). */
  node: string;
  /** MAX_CONNECTIONS_PER_ADDRESS, for the whole cluster. */
  limit: number;
  staleMs?: number;
  /** How long a connection waits for Redis's answer before it is let in (the edge's own cap still holds). */
  timeoutMs?: number;
  onUnanswered?: () => void;
}

/**
 * MAX_CONNECTIONS_PER_ADDRESS for every edge at once: each edge keeps its own count per address in
 * Redis (CONNECTIONS_SET_LUA) and a new connection fits only if every edge's together do. Behind a
 * load balancer spreading one address over N edges, each edge's own cap otherwise let it hold N times
 * as many. An edge's counts are absolute (set, never added), so a lost reply corrects itself at the
 * next change or refresh; an edge that dies stops counting after `staleMs`. A Redis that does not
 * answer limits nothing here (the edge's own cap still does). Only addresses (validated IPs) name keys.
 */
export class SharedConnections {
  private readonly redis: WithConnections;
  /** This edge's open connections per address (> 0), refreshed in Redis every staleMs / 3. */
  private readonly counts = new Map<string, number>();
  private readonly staleMs: number;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    redis: Redis,
    private readonly o: SharedConnectionsOptions,
  ) {
    if (!(o.limit >= 1)) throw new TypeError(`SharedConnections: limit must be >= 1, got ${o.limit}`);
    this.redis = redis as WithConnections;
    if (typeof this.redis.clusterConnectionsSet !== 'function') redis.defineCommand('clusterConnectionsSet', { numberOfKeys: 1, lua: CONNECTIONS_SET_LUA });
    this.staleMs = o.staleMs ?? CONNECTIONS_STALE_MS;
    this.timer = setInterval(() => this.refresh(), Math.max(100, Math.floor(this.staleMs / 3)));
    this.timer.unref();
  }

  /**
   * `count`: this edge's connections from `address` with the new one. True if the cluster's fit the
   * limit (this edge's count is then recorded), false if not (the caller closes the new one and calls
   * `closed`). A Redis that does not answer within `timeoutMs` lets it in.
   */
  async opened(address: string, count: number): Promise<boolean> {
    if (this.stopped || isIP(address) === 0) return true;
    // Counted here at once, as on the edge itself: a close meanwhile sets the count after it.
    this.counts.set(address, count);
    let timer: NodeJS.Timeout | undefined;
    let counted = false;
    const unanswered = () => {
      if (!counted) this.o.onUnanswered?.();
      counted = true;
      return 1;
    };
    const late = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(unanswered()), this.o.timeoutMs ?? 2000)));
    try {
      const asked = this.redis.clusterConnectionsSet(this.key(address), this.o.node, count, this.o.limit, this.staleMs).then(Number, unanswered);
      return (await Promise.race([asked, late])) === 1;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `count`: this edge's connections from `address` now that one closed. */
  closed(address: string, count: number): void {
    if (this.stopped || isIP(address) === 0) return;
    if (count > 0) this.counts.set(address, count);
    else this.counts.delete(address);
    this.set(address, count);
  }

  /** Addresses this edge counts (bounded by its connections). */
  get addresses(): number {
    return this.counts.size;
  }

  /** Stops counting; this edge's counts leave Redis now (best effort: else they go stale). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    for (const address of this.counts.keys()) this.set(address, 0);
    this.counts.clear();
  }

  private refresh(): void {
    for (const [address, count] of this.counts) this.set(address, count);
  }

  private set(address: string, count: number): void {
    this.redis.clusterConnectionsSet(this.key(address), this.o.node, count, 0, this.staleMs).catch(() => undefined);
  }

  private key(address: string): string {
    return `${this.o.keyPrefix}${address}`;
  }
}
