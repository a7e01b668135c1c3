import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { LeaderPresence } from '../../../engine/src/cluster/leader-presence.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A leader back after an absence takes the lease, then writes its upstream state a round trip later
 * (the last leader's expired long before). An edge that looked in between read "present, no state"
 * and told its clients `live` for up to a look, then the leader's own state: stale → live → stale
 * (reproduced against a cluster: a client was told `live` 400 ms before the leader said reconnecting).
 * The real Redis (DB 15), keys of the test's own.
 */
describe.runIf(await hasRedis('leader presence when a leader comes back'))('leader presence when a leader comes back', () => {
  const redis = new Redis(REDIS_URL);
  const lease = `test:presence-return:${process.pid}`;
  const upstream = `${lease}:up`;
  afterAll(async () => {
    await redis.del(lease, upstream);
    redis.disconnect();
  });

  /** What an edge tells its clients from the presence (edge-node.ts), every few ms for `ms`. */
  const told = async (presence: LeaderPresence, ms: number) => {
    const seen: string[] = [];
    for (const end = performance.now() + ms; performance.now() < end; await sleep(10)) {
      const state = presence.present ? (presence.upstream ?? 'live') : 'stale';
      if (seen.at(-1) !== state) seen.push(state);
    }
    return seen;
  };

  it('a lease read before the returning leader wrote its state is not taken for a live leader; its state, once written, is told (before: stale → live → stale)', async () => {
    await redis.del(lease, upstream);
    // Its looks counted, so the state can be written between two of them.
    let looks = 0;
    const counted = { mget: (...keys: string[]) => (looks++, redis.mget(...keys)) } as unknown as Redis;
    const presence = new LeaderPresence({ redis: counted, leaseKey: lease, upstreamKey: upstream, graceMs: 300, everyMs: 250 });
    try {
      for (let i = 0; i < 100 && presence.present; i++) await sleep(20);
      expect(presence.present).toBe(false);
      // The lease alone for one look (the leader's state comes a round trip after it: a look may land between).
      await redis.set(lease, 'a leader', 'PX', 60_000);
      const before = looks;
      for (let i = 0; i < 100 && looks === before; i++) await sleep(5);
      const bare = await told(presence, 50);
      await redis.set(upstream, 'stale', 'PX', 60_000);
      const after = await told(presence, 600);
      expect(bare).toEqual(['stale']);
      expect(after).toEqual(['stale']);
      expect(presence.present).toBe(true);
      expect(presence.upstream).toBe('stale');
    } finally {
      presence.stop();
    }
  });

  it('a leader that writes no state (an older version) is present from the second look on, its lease speaking for it', async () => {
    await redis.del(lease, upstream);
    const presence = new LeaderPresence({ redis, leaseKey: lease, upstreamKey: upstream, graceMs: 300, everyMs: 100 });
    try {
      for (let i = 0; i < 100 && presence.present; i++) await sleep(20);
      expect(presence.present).toBe(false);
      await redis.set(lease, 'an older leader', 'PX', 60_000);
      for (let i = 0; i < 100 && !presence.present; i++) await sleep(20);
      expect(presence.present).toBe(true);
      expect(presence.upstream).toBeUndefined();
    } finally {
      presence.stop();
    }
  });
});
