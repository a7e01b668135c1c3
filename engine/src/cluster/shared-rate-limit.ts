import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { IPV6_BLOCK_SHARE, pooledBlock } from '../server/address-rate-limit.ts';
import { answerWithin } from './answer-within.ts';
import { RATE_TAKE_LUA } from './cluster-scripts.ts';

type WithRate = Redis & { clusterRateTake(key: string, perMinute: number, burst: number, n: number): Promise<number> };

/**
 * A per-address token bucket kept in Redis (RATE_TAKE_LUA), so every edge of a cluster draws on the
 * same one: an address behind a load balancer spreading it over N edges otherwise had N times the
 * rate. An IPv6 address also draws on its /48's bucket, IPV6_BLOCK_SHARE times as large, as on a node
 * (AddressRateLimit): kept here too, else a /48 spread over N edges had N pools. Only addresses
 * (validated IPs) and their /48s (`2001:db8:7::/48`, pooledBlock's) name keys. A Redis that does not
 * answer limits nothing here (the edge's own bucket still does; `onUnanswered` counts it): the caller
 * waits at most `timeoutMs`.
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

  /** Takes `n` tokens (all or none, from each bucket) for `address`: 0 when allowed, else the seconds until they are there. */
  async take(address: string, n = 1): Promise<number> {
    if (isIP(address) === 0) return 0;
    const block = pooledBlock(address);
    // The address's bucket first, then (if it let them) its /48's: not all or none across both as on a
    // node, but one the /48 refuses spends only the address's own tokens, never the pool's.
    const taken = async () => {
      const wait = await this.takeFrom(address, 1, n);
      return wait > 0 || block === undefined ? wait : this.takeFrom(block, IPV6_BLOCK_SHARE, n);
    };
    return answerWithin(taken, this.o.timeoutMs ?? 2000, 0, this.o.onUnanswered);
  }

  /** `share`: addresses' worth the bucket holds (its rate and burst). */
  private takeFrom(name: string, share: number, n: number): Promise<number> {
    return this.redis.clusterRateTake(`${this.o.keyPrefix}${name}`, this.o.perMinute * share, this.o.burst * share, n).then(Number);
  }
}
