import { Redis } from 'ioredis';
import { BehaviorSubject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { DEMAND_STALE_MS } from '../../../engine/src/cluster/demand-member.ts';
import { LeaderDemand } from '../../../engine/src/cluster/leader-demand.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * Found by probing a cluster as an attacker would: the last edge let go of a series between the
 * leader's read of the wanted set and its check of what it holds. The leader released the series,
 * then held it again from the wanted set it had read before, and answered `live` (for 10 minutes)
 * for a series nobody wanted and it no longer ran: an edge asking within them was told `live` before
 * any load (149 such answers after a probe). A real LeaderDemand over Redis (DB 15, a prefix of its
 * own); the edge's release is made to land in that moment, just before the leader's check.
 */
const redisUp = await hasRedis('leader demand release race (Redis)');

describe.runIf(redisUp)('leader demand: a series let go while a scan runs (Redis)', () => {
  const prefix = `spec-release-race-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  const member = 'RACEUSDT:1m';
  let r: Redis;
  let sub: Redis;
  let leader: LeaderDemand | undefined;
  const wants: string[] = [];
  const released: string[] = [];
  /** Set: the leader's next check of what it holds first lets the edge's release land. */
  let releaseBeforeCheck = false;
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => {
    const end = performance.now() + ms;
    while (!(await ok())) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };

  beforeAll(() => {
    r = new Redis(REDIS_URL);
    sub = r.duplicate();
    // The leader's connection: its check of what it holds (ZMSCORE) comes right after its read of the wanted set.
    const leaderRedis = r.duplicate();
    const zmscore = leaderRedis.zmscore.bind(leaderRedis) as (...a: unknown[]) => Promise<unknown>;
    (leaderRedis as unknown as { zmscore: (...a: unknown[]) => Promise<unknown> }).zmscore = async (...a: unknown[]) => {
      if (releaseBeforeCheck) {
        releaseBeforeCheck = false;
        // The edge's release: it leaves the wanted set and takes the answer with it.
        await r.multi().zrem(keys.wanted, member).del(keys.served + member).exec();
      }
      return zmscore(...a);
    };
    const lifecycle: SeriesDemand = {
      isLive: () => false,
      touch: () => {},
      want: (id) => (wants.push(id.key), Promise.resolve<DemandOutcome>({ ok: true })),
      release: (id) => void released.push(id.key),
    };
    const lease = { leader$: new BehaviorSubject(true), state: { leader: true } } as unknown as LeaderLease;
    leader = new LeaderDemand({ redis: leaderRedis, subscriber: sub, keys, lease, demand: lifecycle, seed: () => {}, staleMs: DEMAND_STALE_MS, pollMs: 50, maxSeries: 100 });
    return () => leaderRedis.disconnect();
  });

  afterAll(async () => {
    leader?.stop();
    if (r) await deletePrefix(r, prefix);
    sub?.disconnect();
    r?.disconnect();
  });

  it('is released and not held again from the wanted set read before: no `live` answer is left for it', async () => {
    await r.zadd(keys.wanted, Date.now(), member);
    await until('answered live', async () => (await r.get(keys.served + member)) === 'live');
    expect(wants).toEqual([member]);

    releaseBeforeCheck = true;
    await until('released', () => released.includes(member));
    // A few more scans: nothing holds it again, nothing answers for it.
    await sleep(500);
    expect({ wants, released, answer: await r.get(keys.served + member) }).toEqual({ wants: [member], released: [member], answer: null });
  });
});
