import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { DemandHolders } from '../../../engine/src/cluster/demand-holders.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * Which edges hold a wanted series: the last edge to let go removes it (and its answer) at once and
 * nudges the leader; an edge that died holds nothing once its touch is stale. Real Redis, DB 15, a
 * prefix of its own.
 */
const redisUp = await hasRedis('demand holders (Redis)');

describe.runIf(redisUp)('demand holders (Redis)', () => {
  const prefix = `spec-holders-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  const member = 'ETHUSDT:1m';
  let r: Redis;
  let sub: Redis;
  const nudges: string[] = [];
  let now = 1_000_000;
  const edge = (node: string) => new DemandHolders({ redis: r, keys, node, staleMs: 5000, now: () => now });

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    sub = r.duplicate();
    await sub.subscribe(keys.demand);
    sub.on('message', (_c, m) => nudges.push(m));
  });
  afterAll(async () => {
    await deletePrefix(r, prefix);
    sub?.disconnect();
    r?.disconnect();
  });

  const wanted = () => r.zrange(keys.wanted, 0, -1);

  it('two edges hold a series: the first to let go leaves it wanted, the last removes it, its answer and nudges the leader', async () => {
    const [a, b] = [edge('edge-a'), edge('edge-b')];
    await a.touch(r.multi(), [member]).exec();
    await b.touch(r.multi(), [member]).exec();
    await r.set(keys.served + member, 'live');
    expect(await r.zrange(keys.holders + member, 0, -1)).toEqual(['edge-a', 'edge-b']);
    expect(await r.pttl(keys.holders + member)).toBeGreaterThan(5000);

    expect(await a.release(member)).toBe(false);
    expect(await wanted()).toEqual([member]);
    expect(await r.get(keys.served + member)).toBe('live');

    expect(await b.release(member)).toBe(true);
    expect(await wanted()).toEqual([]);
    expect(await r.exists(keys.served + member, keys.holders + member)).toBe(0);
    await new Promise((res) => setTimeout(res, 50));
    expect(nudges).toEqual([member]);
  });

  it('a holder that stopped touching (an edge that died) does not keep the series', async () => {
    const [dead, live] = [edge('edge-dead'), edge('edge-live')];
    await dead.touch(r.multi(), [member]).exec();
    now += 6000; // past the stale time
    await live.touch(r.pipeline(), [member, 'SOLUSDT:1m']).exec();
    expect(await live.release(member)).toBe(true);
    expect(await wanted()).toEqual(['SOLUSDT:1m']);
  });

  it('a release then a new ask on the same connection: the series is wanted again', async () => {
    const a = edge('edge-a');
    await a.touch(r.multi(), [member]).exec();
    const released = a.release(member);
    const asked = a.touch(r.multi(), [member]).exec();
    await Promise.all([released, asked]);
    expect(await wanted()).toContain(member);
    expect(await r.zrange(keys.holders + member, 0, -1)).toEqual(['edge-a']);
  });
});
