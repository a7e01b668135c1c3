import { Redis } from 'ioredis';
import { BehaviorSubject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import type { EdgeDemand } from '../../../engine/src/cluster/edge-demand.ts';
import { bareEdgeDemand } from '../../helpers/bare-edge-demand.ts';
import { LeaderDemand, LIVE_ANSWER_TTL_MS } from '../../../engine/src/cluster/leader-demand.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { seriesId, type SeriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * The leader's waited-for loads take turns by client address in a cluster too (ROLE=all's
 * BootstrapQueue): the edge names the address that asked in its nudge, and the leader gives it to its
 * lifecycle as the load's asker, not as an address to charge again. A real edge demand and leader
 * demand over Redis (DB 15, a prefix of their own); the leader's lifecycle records what it is asked.
 */
const redisUp = await hasRedis('leader demand askers (Redis)');

describe.runIf(redisUp)('leader demand askers and answers (Redis)', () => {
  const prefix = `spec-askers-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  let r: Redis;
  let sub: Redis;
  let leader: LeaderDemand;
  let edge: EdgeDemand;
  const asked: Array<{ key: string; address?: string; asker?: string }> = [];
  const until = async (ok: () => boolean, ms = 5000): Promise<void> => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    sub = r.duplicate();
    const lifecycle: SeriesDemand = {
      isLive: () => false,
      touch: () => {},
      release: () => {},
      want: (id: SeriesId, address?: string, asker?: string) => {
        asked.push({ key: id.key, address, asker });
        // LIVEUSDT loads; the rest never settle (the spec reads what the leader asked, not the load).
        return id.symbol === 'LIVEUSDT' ? Promise.resolve<DemandOutcome>({ ok: true }) : new Promise<DemandOutcome>(() => {});
      },
    };
    const state = new BehaviorSubject(true);
    const lease = { leader$: state, state: { leader: true } } as unknown as LeaderLease;
    // Polled rarely: each member is held on its nudge, where the asker is known.
    leader = new LeaderDemand({ redis: r, subscriber: sub, keys, lease, demand: lifecycle, seed: () => {}, staleMs: 5000, pollMs: 60_000, maxSeries: 100 });
    edge = bareEdgeDemand(r, keys, 'edge-a', { answerTimeoutMs: 30_000, perMinute: 600 });
    // The leader's subscription is up before the edge nudges.
    const subscribed = async () => Number(((await r.pubsub('NUMSUB', keys.demand)) as [string, number])[1]) > 0;
    for (let i = 0; i < 250 && !(await subscribed()); i++) await new Promise((res) => setTimeout(res, 20));
  });
  afterAll(async () => {
    edge?.stop();
    leader?.stop();
    await deletePrefix(r, prefix);
    sub?.disconnect();
    r?.disconnect();
  });

  it('gives each cold series its asking address as the load\'s asker, uncharged (reproduced: no address reached the leader)', async () => {
    void edge.want(seriesId('ETHUSDT', '1m'), '203.0.113.7');
    void edge.want(seriesId('SOLUSDT', '1m'), '2001:db8:0:7::');
    await until(() => asked.length === 2);
    expect(asked.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: 'ETHUSDT:1m', address: undefined, asker: '203.0.113.7' },
      { key: 'SOLUSDT:1m', address: undefined, asker: '2001:db8:0:7::' },
    ]);
  });

  it('holds a series without an asker when the nudge names none or a malformed one', async () => {
    asked.length = 0;
    await r.zadd(keys.wanted, Date.now(), 'XRPUSDT:1m', Date.now(), 'ADAUSDT:1m');
    await r.publish(keys.demand, 'XRPUSDT:1m');
    await r.publish(keys.demand, 'ADAUSDT:1m not-an-address\nwith a line');
    await until(() => asked.length === 2);
    expect(asked.map((a) => a.asker)).toEqual([undefined, undefined]);
  });

  it('answers live with an expiry, so an answer nobody holds any more goes (reproduced: kept for good)', async () => {
    await r.zadd(keys.wanted, Date.now(), 'LIVEUSDT:1m');
    await r.publish(keys.demand, 'LIVEUSDT:1m');
    const served = keys.served + 'LIVEUSDT:1m';
    for (let i = 0; i < 250 && (await r.get(served)) !== 'live'; i++) await new Promise((res) => setTimeout(res, 20));
    expect(await r.get(served)).toBe('live');
    const ttl = await r.pttl(served);
    expect(ttl).toBeGreaterThan(LIVE_ANSWER_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(LIVE_ANSWER_TTL_MS);
  });
});
