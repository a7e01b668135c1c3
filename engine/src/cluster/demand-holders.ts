import type { ChainableCommander, Redis } from 'ioredis';
import type { DemandKeys } from './cluster-keys.ts';

/**
 * Removes one edge from a wanted member's holders and, when no fresh holder is left, the member from
 * the wanted set (with its answer) and nudges the leader, atomically: another edge's touch runs
 * before (it stays a holder: the member stays) or after (it adds the member back). KEYS: wanted,
 * holders, served. ARGV: node, member, cutoff (holders touched before it are gone), demand channel.
 * Returns 1 if the member went.
 */
const RELEASE_LUA = `
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
`;

export interface DemandHoldersConfig {
  redis: Redis;
  keys: DemandKeys;
  /** This edge (NODE_ID): a member of each holder set. */
  node: string;
  /** A holder untouched for this long is gone (an edge that died); as the leader's stale time. */
  staleMs: number;
  now?: () => number;
}

/**
 * Which edges hold a wanted member, so the last one to let go removes it at once. The wanted set
 * alone (one score per member: the newest touch of any edge) could only let a member go stale,
 * DEMAND_STALE_MS after the last touch, while it kept a place under the leader's caps. Each member
 * has a small sorted set of the edges holding it (`holders<member>`, scored by their touches, expiring
 * when none touches it); an edge that lets go runs RELEASE_LUA. The leader is unchanged: it releases
 * a member it holds once the member is gone or stale. Members are validated series and instance keys.
 */
export class DemandHolders {
  private readonly now: () => number;

  constructor(private readonly cfg: DemandHoldersConfig) {
    this.now = cfg.now ?? Date.now;
  }

  /** Adds to a MULTI or pipeline: the members are wanted now, and this edge holds them. */
  touch(p: ChainableCommander, members: readonly string[], t = this.now()): ChainableCommander {
    if (!members.length) return p;
    const { keys, node, staleMs } = this.cfg;
    p.zadd(keys.wanted, ...members.flatMap((m) => [t, m]));
    for (const m of members) p.zadd(keys.holders + m, t, node).pexpire(keys.holders + m, 2 * staleMs);
    return p;
  }

  /** This edge lets go of the member: it leaves the wanted set now if no other edge holds it. */
  async release(member: string): Promise<boolean> {
    const [[err, gone] = [null, 0]] = (await this.releaseIn(this.cfg.redis.pipeline(), member).exec()) ?? [];
    if (err) throw err;
    return gone === 1;
  }

  /** Adds `release` to a MULTI or pipeline. */
  releaseIn(p: ChainableCommander, member: string): ChainableCommander {
    const { keys, node, staleMs } = this.cfg;
    return p.eval(RELEASE_LUA, 3, keys.wanted, keys.holders + member, keys.served + member, node, member, String(this.now() - staleMs), keys.demand);
  }
}
