import { Redis } from 'ioredis';
import { BehaviorSubject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LeaderDemand } from '../../../engine/src/cluster/leader-demand.ts';
import type { LeaderLease, Leadership } from '../../../engine/src/cluster/leader-lease.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * The node steps down while a scan of the wanted set waits for Redis (a lapsed renewal, a fenced
 * write). Stepping down released all it held; the scan, resumed, used to hold what it had read
 * again, as a standby: it ran those series, answered `live` for series it would never write, and
 * never let them go (a code review's repro: still held 6 s later). A scan now goes on only in the
 * term it began in. A real LeaderDemand over Redis (DB 15, a prefix of its own); the step-down is
 * made to land inside the scan's ZMSCORE.
 */
const redisUp = await hasRedis('leader demand: a step-down in the middle of a scan (Redis)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(redisUp)('leader demand: a step-down in the middle of a scan (Redis)', () => {
  const prefix = `spec-demand-stepdown-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  let r: Redis;
  let sub: Redis;

  beforeAll(() => {
    r = new Redis(REDIS_URL);
    sub = r.duplicate();
  });

  afterAll(async () => {
    sub?.disconnect();
    if (r) await deletePrefix(r, prefix);
    r?.disconnect();
  });

  it('holds nothing as a standby and answers nothing after it', async () => {
    const wanted: string[] = [];
    const released: string[] = [];
    const demand: SeriesDemand = {
      isLive: () => false,
      touch: () => {},
      want: (id) => (wanted.push(id.key), Promise.resolve<DemandOutcome>({ ok: true })),
      release: (id) => void released.push(id.key),
    };
    const state = new BehaviorSubject<Leadership>({ leader: true, term: 1, token: 'T1' });
    const leader$ = new BehaviorSubject(true);
    const lease = {
      leader$,
      get state() {
        return state.value;
      },
    } as unknown as LeaderLease;
    // The step-down lands while the scan waits for its ZMSCORE of what it holds.
    const zmscore = r.zmscore.bind(r) as (...a: string[]) => Promise<Array<string | null>>;
    let armed = false;
    (r as unknown as { zmscore: (...a: string[]) => Promise<Array<string | null>> }).zmscore = async (...a: string[]) => {
      const v = await zmscore(...a);
      if (armed) {
        armed = false;
        state.next({ leader: false });
        leader$.next(false);
      }
      return v;
    };
    const ld = new LeaderDemand({ redis: r, subscriber: sub, keys, lease, demand, seed: () => {}, staleMs: 5000, pollMs: 200, maxSeries: 100 });
    try {
      await r.zadd(keys.wanted, Date.now(), 'BTCUSDT:1m');
      for (const end = Date.now() + 5000; ld.size < 1; await sleep(20)) if (Date.now() > end) throw new Error('not held');
      armed = true;
      await r.zadd(keys.wanted, Date.now(), 'ETHUSDT:1m');
      // The next scan (every 200 ms) steps it down: waited for, then a while more for anything it should
      // not do after (a fixed second was a guess on a loaded machine).
      for (const end = Date.now() + 10_000; state.value.leader; await sleep(20)) if (Date.now() > end) throw new Error('no step-down');
      await sleep(500);
      expect(state.value.leader).toBe(false);
      expect(ld.size).toBe(0);
      expect(wanted).toEqual(['BTCUSDT:1m']);
      expect(released).toEqual(['BTCUSDT:1m']);
      expect(await r.get(keys.served + 'ETHUSDT:1m')).toBeNull();
    } finally {
      ld.stop();
      (r as unknown as { zmscore: unknown }).zmscore = zmscore;
    }
  });
});
