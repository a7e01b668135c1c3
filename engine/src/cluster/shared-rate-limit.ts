import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { answerWithin } from './answer-within.ts';
import { RATE_TAKE_LUA } from './cluster-scripts.ts';

type WithRate = Redis & { clusterRateTake(key: string, perMinute: number, burst: number, n: number): Promise<number> };

/**
 * A per-address token bucket kept in Redis (RATE_TAKE_LUA), so every edge of a cluster draws on the
 * same one: an address behind a load balancer spreading it over N edges otherwise had N times the
 * rate. Only addresses (validated IPs) name keys. A Redis that does not answer limits nothing here
 * (the edge's own bucket still does; `onUnanswered` counts it): the caller waits at most `timeoutMs`.
 */
export class SharedRateLimit {
  private readonly redis: WithRate;

  constructor(
    redis: Redis,
    private readonly o: { keyPrefix: string; perMinute: number; burst: number; timeoutMs?: number; onUnanswered?: () => void },
  ) {
    if (!(o.perMinute > 0) || !(o.burst >= 1)) throw new TypeError(`SharedRateLimit: perMinute must be > 0 and burst >= 1, got ${o.perMinute}, ${o.burst}`);
    this.redis = redis as WithRate;
    if (typeof this.redis.clusterRateTake !== 'function') redis.defineCommand('clusterRateTake', { numberOfKeys: 1, lua: RATE_TAKE_LUA });
  }

  /** Takes `n` tokens (all or none) for `address`: 0 when allowed, else the seconds until they are there. */
  async take(address: string, n = 1): Promise<number> {
    if (isIP(address) === 0) return 0;
    const key = `${this.o.keyPrefix}${address}`;
    return answerWithin(() => this.redis.clusterRateTake(key, this.o.perMinute, this.o.burst, n).then(Number), this.o.timeoutMs ?? 2000, 0, this.o.onUnanswered);
  }
}
