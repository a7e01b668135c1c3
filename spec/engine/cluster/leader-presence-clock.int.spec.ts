import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LeaderPresence } from '../../../engine/src/cluster/leader-presence.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An edge's view of whether a leader is there is timed by the process's own clock: with the wall
 * clock's, a step back (an NTP step) kept a dead leader present for the step's length, its last
 * `live` told to clients while nobody led. The real Redis (DB 15), a lease key of the test's own.
 */
describe.runIf(await hasRedis('leader presence and a wall clock stepped back'))('leader presence and a wall clock stepped back', () => {
  const redis = new Redis(REDIS_URL);
  const key = `test:presence-clock:${process.pid}`;
  afterAll(async () => {
    await redis.del(key, `${key}:up`);
    redis.disconnect();
  });

  it('a leader gone is absent after the grace, whatever the wall clock does (reproduced: present for the 10 s step)', async () => {
    await redis.set(key, 'a leader', 'PX', 60_000);
    const wall = Date.now.bind(Date);
    let back = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => wall() - back);
    const presence = new LeaderPresence({ redis, leaseKey: key, upstreamKey: `${key}:up`, graceMs: 300, everyMs: 50 });
    try {
      for (let i = 0; i < 100 && presence.lastSeenMsAgo() > 100; i++) await sleep(20);
      expect(presence.present).toBe(true);
      // The leader dies, and the wall clock steps back 10 s.
      await redis.del(key);
      back = 10_000;
      for (let i = 0; i < 100 && presence.present; i++) await sleep(20);
      expect(presence.present).toBe(false);
    } finally {
      clock.mockRestore();
      presence.stop();
    }
  });
});
