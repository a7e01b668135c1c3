import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { DemandHolders } from '../../../engine/src/cluster/demand-holders.ts';
import { DEMAND_STALE_MS, demandNudge } from '../../../engine/src/cluster/demand-member.ts';
import { leaderDemandRig } from '../../helpers/leader-demand-rig.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * An edge lets go of a series (the last holder: its release deletes the leader's answer) and asks for
 * it again before the leader's scan reads that it went: the leader still holds it, and answers
 * `live` again. It used to hold it without an answer: the edge's client waited a minute, then was
 * refused. The release and the new ask are one MULTI here, so no scan falls between them. A real
 * LeaderDemand over Redis (DB 15, a prefix of its own), its poll a minute: only nudges make it scan.
 */
const redisUp = await hasRedis('leader demand: a series released and asked again at once is answered again (Redis)');

describe.runIf(redisUp)('leader demand: a series released and asked again at once is answered again (Redis)', () => {
  const prefix = `spec-reanswer-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  const member = 'ETHUSDT:1m';
  let r: Redis;
  let rig: ReturnType<typeof leaderDemandRig> | undefined;
  const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    for (const end = performance.now() + 5000; !(await ok()); await new Promise((res) => setTimeout(res, 20))) if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
  };

  beforeAll(() => {
    r = new Redis(REDIS_URL);
    rig = leaderDemandRig(r, keys, { pollMs: 60_000 });
  });

  afterAll(async () => {
    rig?.stop();
    if (r) await deletePrefix(r, prefix);
    r?.disconnect();
  });

  it('answered live again (and named on the answers channel) while an edge wants it; not after it let go for good', async () => {
    const released = rig!.released;
    const edge = new DemandHolders({ redis: r, keys, node: 'edge-1', staleMs: DEMAND_STALE_MS });
    const answered: string[] = [];
    const listener = r.duplicate();
    await listener.subscribe(keys.answered);
    listener.on('message', (_c, m: string) => answered.push(m));
    try {
      await edge.touch(r.multi(), [member]).publish(keys.demand, demandNudge(member, '')).exec();
      await until('the first answer', async () => (await r.get(keys.served + member)) === 'live');

      await edge.touch(edge.releaseIn(r.multi(), member), [member]).publish(keys.demand, demandNudge(member, '')).exec();
      await until('the answer again', async () => (await r.get(keys.served + member)) === 'live');
      expect(released).toEqual([]);
      await until('named on the channel twice', async () => answered.filter((m) => m === member).length === 2);

      // Let go for good: no answer comes back, and the leader releases it.
      await edge.release(member);
      await until('released', async () => released.includes(member));
      expect(await r.get(keys.served + member)).toBeNull();
    } finally {
      listener.disconnect();
    }
  });

  it("answers again a live answer Redis did not take (the connection dropped during the seed: the edge waited a minute, then refused its client)", async () => {
    const lr = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    lr.on('error', () => {});
    const eth5 = 'ETHUSDT:5m';
    // Keys of its own: the first test's leader would answer it.
    const keys = leaseKeys(`${prefix}lost:`);
    const lost = leaderDemandRig(lr, keys, {
      pollMs: 300,
      // The seed ends as the connection drops: its answer goes nowhere.
      seed: () => {
        lr.disconnect();
        return new Promise((res) => setTimeout(res, 20));
      },
    });
    try {
      await until('connected', async () => lr.status === 'ready');
      const edge = new DemandHolders({ redis: r, keys, node: 'edge-2', staleMs: DEMAND_STALE_MS });
      await edge.touch(r.multi(), [eth5]).publish(keys.demand, demandNudge(eth5, '')).exec();
      await until('the connection dropped', async () => lr.status !== 'ready');
      expect(await r.get(keys.served + eth5)).toBeNull();
      await lr.connect();
      await until('the answer set again', async () => (await r.get(keys.served + eth5)) === 'live');
      await edge.release(eth5);
    } finally {
      lost.stop();
      lr.disconnect();
    }
  });
});
