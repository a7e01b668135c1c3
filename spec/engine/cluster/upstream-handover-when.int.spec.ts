import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { UpstreamHandover } from '../../../engine/src/cluster/upstream-handover.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * When a leader hands over for its upstream, and when it does not: only to another node that said
 * `live` within the last three periods, only after UPSTREAM_HANDOVER_MS. The real Redis (DB 15), a
 * lease that records what it is asked.
 */
const redisUp = await hasRedis('upstream hand-over: when a leader gives the lead away');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls until `pred` holds: a hand-over is due within a tick or two (100 ms each), which a loaded machine stretches. */
const until = async (pred: () => boolean | Promise<boolean>, what: string, ms = 10_000) => {
  for (const deadline = Date.now() + ms; !(await pred()); await sleep(20)) if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
};

describe.runIf(redisUp)('upstream hand-over: when a leader gives the lead away', () => {
  const redis = new Redis(REDIS_URL);
  const key = `test:handover:${process.pid}`;
  const made: UpstreamHandover[] = [];
  afterAll(async () => {
    for (const h of made) await h.stop();
    await redis.del(key, `${key}:lease`);
    redis.disconnect();
  });
  const node = (nodeId: string, leader: boolean) => {
    const handed: string[] = [];
    /** When each hand-over came (Date.now(), the class's clock). */
    const handedAt: number[] = [];
    const lease = {
      state: { leader, token: leader ? 't' : undefined },
      handOver: (reason: string) => {
        handed.push(reason);
        handedAt.push(Date.now());
      },
    };
    const h = new UpstreamHandover({ redis, key, leaseKey: `${key}:lease`, nodeId, lease, afterMs: 300, everyMs: 100 });
    made.push(h);
    return { h, handed, handedAt };
  };

  it('keeps the lead while no other node is live, hands over once one is', async () => {
    const leader = node('a', true);
    const other = node('b', false);
    leader.h.set('live');
    other.h.set('reconnecting');
    await sleep(400);
    leader.h.set('reconnecting');
    // Down, and so is every other node: nobody to hand over to.
    await sleep(700);
    expect(leader.handed).toEqual([]);
    other.h.set('live');
    await until(() => leader.handed.length > 0, 'a hand-over to b');
    expect(leader.handed[0]).toMatch(/upstream reconnecting for \d+ s while b's is live/);
    await leader.h.stop();
    await other.h.stop();
  });

  it('does not hand over to a node that stopped saying it is live (gone), nor while its own upstream is live, nor before UPSTREAM_HANDOVER_MS', async () => {
    await redis.del(key);
    const leader = node('c', true);
    const gone = node('d', false);
    leader.h.set('live');
    gone.h.set('live');
    await sleep(300);
    await gone.h.stop(); // dies: says nothing more
    await sleep(500);
    leader.h.set('stale');
    await sleep(1000);
    expect(leader.handed).toEqual([]);
    const live = node('e', false);
    live.h.set('live');
    leader.h.set('live');
    await sleep(600);
    expect(leader.handed).toEqual([]);
    // Not before UPSTREAM_HANDOVER_MS (300 ms here): read off when it came, not off a short sleep, which
    // a loaded machine stretches past 300 ms.
    const notLiveFrom = Date.now();
    leader.h.set('reconnecting');
    await until(() => leader.handed.length > 0, 'a hand-over to e');
    expect(leader.handed[0]).toMatch(/while e's is live/);
    expect(leader.handedAt[0]! - notLiveFrom).toBeGreaterThanOrEqual(300);
  });

  /** The earlier cases' nodes stopped (they go on saying their state), and the hash emptied. */
  const fresh = async () => {
    for (const h of made.splice(0)) await h.stop();
    await redis.del(key);
  };

  it("not to a node whose last `live` is fresh but no longer moves (killed), nor to one that stopped (reproduced: handed to a dead leader, nobody led for UPSTREAM_HANDOVER_MS)", async () => {
    await fresh();
    const leader = node('f', true);
    leader.h.set('reconnecting');
    await sleep(400);
    // A node killed right after it said `live`: its stamp, Redis's now, stays fresh for three periods.
    const [sec, micro] = await redis.time();
    await redis.hset(key, 'killed', `live ${Number(sec) * 1000 + Math.floor(Number(micro) / 1000)}`);
    await sleep(400);
    expect(leader.handed).toEqual([]);
    await leader.h.stop();
    // A node that stops removes its state: its last `live` is nobody's to hand over to.
    const stopping = node('g', false);
    stopping.h.set('live');
    await until(async () => (await redis.hexists(key, 'g')) === 1, 'g says its state');
    await stopping.h.stop();
    expect(await redis.hexists(key, 'g')).toBe(0);
  });

  it('a standby whose upstream is not live leaves the lease to one whose is, for UPSTREAM_HANDOVER_MS at most (reproduced: any standby took it, and handed it on again)', async () => {
    await fresh();
    const down = node('h', false);
    const up = node('i', false);
    down.h.set('reconnecting');
    up.h.set('live');
    // While a node leads the wait does not run (it ran out before the lease came free: any standby raced again).
    await redis.set(`${key}:lease`, 'a leader');
    await sleep(1000);
    expect(down.h.mayLead()).toBe(true);
    // The lease free: left to i.
    await redis.del(`${key}:lease`);
    await until(() => !down.h.mayLead(), 'h leaves the lease to i');
    const from = Date.now();
    expect(up.h.mayLead()).toBe(true);
    // Not for good: a live node that cannot take it must not leave the cluster without a leader.
    await until(() => down.h.mayLead(), 'h may lead again');
    expect(Date.now() - from).toBeGreaterThanOrEqual(250);
    down.h.set('live');
    expect(down.h.mayLead()).toBe(true);
  });
});
