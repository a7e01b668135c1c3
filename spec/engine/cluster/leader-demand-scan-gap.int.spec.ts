import { Redis } from 'ioredis';
import { BehaviorSubject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LeaderDemand } from '../../../engine/src/cluster/leader-demand.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import type { SeriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * Nudges in a flood share scans: each connect to an on-demand series nudges the leader, and each scan
 * reads the whole wanted set, so clients joining and leaving in a loop kept the leader scanning back
 * to back (an attacker-style review). A real Redis (DB 15, a prefix of its own); the scans are counted
 * as the wanted set's reads of fresh members.
 */
const redisUp = await hasRedis('leader demand scan gap (Redis)');

describe.runIf(redisUp)('leader demand under a flood of nudges (Redis)', () => {
  const prefix = `spec-scangap-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  let r: Redis;
  let sub: Redis;
  let leader: LeaderDemand;
  let scans = 0;
  const asked: string[] = [];
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    sub = r.duplicate();
    // The leader's command connection, its reads of fresh members counted (one per scan).
    const counted = new Proxy(r, {
      get(target, key) {
        const v = Reflect.get(target, key, target) as unknown;
        if (key === 'zrangebyscore')
          return (...args: unknown[]) => {
            if (args[2] === '+inf') scans++;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const lifecycle: SeriesDemand = {
      isLive: () => true,
      touch: () => {},
      release: () => {},
      want: (id: SeriesId) => {
        asked.push(id.key);
        return Promise.resolve<DemandOutcome>({ ok: true });
      },
    };
    const lease = { leader$: new BehaviorSubject(true), state: { leader: true, token: 't' } } as unknown as LeaderLease;
    leader = new LeaderDemand({ redis: counted, subscriber: sub, keys, lease, demand: lifecycle, seed: () => {}, staleMs: 60_000, pollMs: 60_000, maxSeries: 100 });
    const subscribed = async () => Number(((await r.pubsub('NUMSUB', keys.demand)) as [string, number])[1]) > 0;
    for (let i = 0; i < 250 && !(await subscribed()); i++) await sleep(20);
  });
  afterAll(async () => {
    leader?.stop();
    await deletePrefix(r, prefix);
    sub?.disconnect();
    r?.disconnect();
  });

  it('scans at most once per 50 ms however fast edges nudge, and still holds a new series within a scan (reproduced: one scan per nudge)', async () => {
    await r.zadd(keys.wanted, Date.now(), 'ETHUSDT:1m');
    await r.publish(keys.demand, 'ETHUSDT:1m');
    for (let i = 0; i < 100 && !asked.includes('ETHUSDT:1m'); i++) await sleep(20);
    expect(asked).toContain('ETHUSDT:1m');
    await sleep(200);
    scans = 0;
    const started = Date.now();
    // 200 nudges over about a second, as joins to a held series in a loop make them.
    for (let i = 0; i < 200; i++) {
      void r.publish(keys.demand, 'ETHUSDT:1m');
      if (i % 2) await sleep(10);
    }
    await sleep(150);
    const seconds = (Date.now() - started) / 1000;
    expect(scans).toBeGreaterThan(0);
    expect(scans).toBeLessThanOrEqual(Math.ceil(seconds * 20) + 2);
    // A series asked for during the flood is held by the next scan: the gap delays it, nothing more.
    await r.zadd(keys.wanted, Date.now(), 'SOLUSDT:1m');
    const asking = Date.now();
    await r.publish(keys.demand, 'SOLUSDT:1m');
    for (let i = 0; i < 100 && !asked.includes('SOLUSDT:1m'); i++) await sleep(5);
    expect(asked).toContain('SOLUSDT:1m');
    expect(Date.now() - asking).toBeLessThan(1000);
  });
});
