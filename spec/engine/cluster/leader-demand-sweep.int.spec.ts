import { Redis } from 'ioredis';
import { BehaviorSubject } from 'rxjs';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LeaderDemand } from '../../../engine/src/cluster/leader-demand.ts';
import type { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * A new leader's sweep of the kept set (LeaderDemand `kept`, `forget`, `canSweep`): `staleMs` after
 * taking the lead, and once the node says it may, every kept member that no edge wants and this node
 * does not hold is forgotten, once; wanted and held ones are not. A real LeaderDemand over Redis (DB
 * 15, a prefix of its own) with a stub lease and lifecycle.
 */
const redisUp = await hasRedis('leader demand: the sweep of the kept set (Redis)');

const STALE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(redisUp)('leader demand: the sweep of the kept set after taking the lead (Redis)', () => {
  const prefix = `spec-kept-sweep-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  let r: Redis;
  let sub: Redis;
  let leader: LeaderDemand | undefined;

  beforeAll(() => {
    r = new Redis(REDIS_URL);
    sub = r.duplicate();
  });
  afterEach(async () => {
    leader?.stop();
    leader = undefined;
    await deletePrefix(r, prefix);
  });
  afterAll(() => {
    sub?.disconnect();
    r?.disconnect();
  });

  /** Starts a leader (taking the lead at once); `forgotten` gets each member it forgets, `at` when (Date.now()). */
  const start = (o: { canSweep?: () => boolean; forgotten: string[]; at?: number[] }) => {
    const lifecycle: SeriesDemand = {
      isLive: () => false,
      touch: () => {},
      // Never answers: what is wanted stays held, not live.
      want: () => new Promise<DemandOutcome>(() => {}),
      release: () => {},
    };
    const lease = { leader$: new BehaviorSubject(true), state: { leader: true } } as unknown as LeaderLease;
    const forget = (id: { key: string }) => {
      o.forgotten.push(id.key);
      o.at?.push(Date.now());
    };
    leader = new LeaderDemand({ redis: r, subscriber: sub, keys, lease, demand: lifecycle, seed: () => {}, staleMs: STALE_MS, pollMs: 50, maxSeries: 100, kept: keys.kept, forget, canSweep: o.canSweep });
  };

  it('forgets, once, the kept members neither wanted nor held, staleMs after taking the lead', async () => {
    // A former leader kept four; an edge wants one now; one is malformed (never made a key).
    await r.sadd(keys.kept, 'ORPHANUSDT:1m', 'GONEUSDT:5m', 'WANTEDUSDT:1m', 'not a member');
    const touch = () => r.zadd(keys.wanted, Date.now(), 'WANTEDUSDT:1m');
    await touch();
    const forgotten: string[] = [];
    const at: number[] = [];
    const startedAt = Date.now();
    start({ forgotten, at });
    // The edge touches what it wants (every 50 ms, as DEMAND_TOUCH_MS does within staleMs).
    for (const deadline = Date.now() + 10_000; forgotten.length < 2 && Date.now() < deadline; await sleep(50)) await touch();
    expect(forgotten.sort()).toEqual(['GONEUSDT:5m', 'ORPHANUSDT:1m']);
    // Not before staleMs: read off when, not off a sleep of a third of it (which a loaded machine stretches past it).
    for (const t of at) expect(t - startedAt).toBeGreaterThanOrEqual(STALE_MS);
    // Once per takeover: later scans forget nothing more.
    await sleep(STALE_MS * 2);
    expect(forgotten.sort()).toEqual(['GONEUSDT:5m', 'ORPHANUSDT:1m']);
  });

  it('waits for the node to say it may (its configured series all up)', async () => {
    await r.sadd(keys.kept, 'ORPHANUSDT:1m');
    let may = false;
    const forgotten: string[] = [];
    start({ forgotten, canSweep: () => may });
    await sleep(STALE_MS * 3);
    expect(forgotten).toEqual([]);
    may = true;
    for (const deadline = Date.now() + 10_000; forgotten.length < 1 && Date.now() < deadline; ) await sleep(50);
    expect(forgotten).toEqual(['ORPHANUSDT:1m']);
  });
});
