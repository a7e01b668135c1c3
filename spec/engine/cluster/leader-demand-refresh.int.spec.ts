import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LIVE_ANSWER_TTL_MS } from '../../../engine/src/cluster/leader-demand.ts';
import { leaderDemandRig } from '../../helpers/leader-demand-rig.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * The leader answers `live` under `served:<key>` with `PX LIVE_ANSWER_TTL_MS` (10 minutes) and renews
 * the answers of what it still holds once every LIVE_ANSWER_TTL_MS / 4 (2.5 minutes), from its scans;
 * an answer it no longer holds is left to expire. A real LeaderDemand over Redis (DB 15, a prefix of
 * its own), polling every 50 ms. Only `Date` is faked (the scans, ioredis and the test's waits run on
 * real timers): moving it on stands for the minutes between renewals. Redis's clock cannot be moved,
 * so the test shortens an answer's PTTL to stand for the minutes it has lived; a renewal puts it back
 * near 10 minutes.
 */
const redisUp = await hasRedis('leader demand answer renewal (Redis)');

const SHORT_MS = 60_000;
const RENEW_EVERY_MS = LIVE_ANSWER_TTL_MS / 4;
const POLL_MS = 50;

describe.runIf(redisUp)('leader demand: live answers renewed while held (Redis)', () => {
  const prefix = `spec-answer-refresh-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  const held = 'HELDUSDT:1m';
  const dropped = 'GONEUSDT:1m';
  let r: Redis;
  let rig: ReturnType<typeof leaderDemandRig> | undefined;
  let released: string[] = [];
  /** The faked wall clock (Date); the waits below run on performance.now(), which is real. */
  let clock = 0;
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => {
    const end = performance.now() + ms;
    while (!(await ok())) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const pttl = (member: string) => r.pttl(keys.served + member);
  /** Moves the wall clock on and touches the held member, as its edge does every few seconds. */
  const advance = async (ms: number) => {
    clock += ms;
    vi.setSystemTime(clock);
    await r.zadd(keys.wanted, clock, held);
  };
  /** Scans that ran with the clock where it is now (a scan started before the move may be in flight). */
  const scans = () => sleep(10 * POLL_MS);

  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    clock = Date.now();
    vi.setSystemTime(clock);
    r = new Redis(REDIS_URL);
    rig = leaderDemandRig(r, keys, { pollMs: POLL_MS });
    released = rig.released;
  });

  afterAll(async () => {
    rig?.stop();
    vi.useRealTimers();
    if (r) await deletePrefix(r, prefix);
    r?.disconnect();
  });

  it('renews a held answer every 2.5 minutes, not at every scan, and leaves one no longer held to expire', async () => {
    // Each answer is also named on the answers' channel, after it is set (edges read it then).
    const listener = r.duplicate();
    const named: Array<[string, string | null]> = [];
    listener.on('message', (_channel: string, key: string) => void r.get(keys.served + key).then((a) => named.push([key, a])));
    await listener.subscribe(keys.answered);
    await r.zadd(keys.wanted, clock, held, clock, dropped);
    await until('both answered live', async () => (await r.get(keys.served + held)) === 'live' && (await r.get(keys.served + dropped)) === 'live');
    await until('both named on the answers channel', () => named.length === 2);
    expect(named.sort()).toEqual([
      [dropped, 'live'],
      [held, 'live'],
    ]);
    listener.disconnect();
    for (const m of [held, dropped]) expect(await pttl(m)).toBeGreaterThan(LIVE_ANSWER_TTL_MS - 10_000);

    // The edges let go of one (its member leaves the wanted set): the leader releases it; its answer
    // stays in Redis, with the expiry it was given.
    await r.zrem(keys.wanted, dropped);
    await until('the dropped member released', () => released.includes(dropped));
    expect(released).toEqual([dropped]);

    // Both answers have lived 9 of their 10 minutes; scans within 2.5 minutes of the last renewal renew nothing.
    for (const m of [held, dropped]) await r.pexpire(keys.served + m, SHORT_MS);
    await advance(RENEW_EVERY_MS - 10_000);
    await scans();
    expect(await pttl(held)).toBeLessThanOrEqual(SHORT_MS);

    // 2.5 minutes on: the held answer is renewed to 10 minutes, the released one is not.
    await advance(10_000);
    await until('the held answer renewed', async () => (await pttl(held)) > SHORT_MS);
    expect(await pttl(held)).toBeGreaterThan(LIVE_ANSWER_TTL_MS - 10_000);
    expect(await pttl(held)).toBeLessThanOrEqual(LIVE_ANSWER_TTL_MS);
    await scans();
    const left = await pttl(dropped);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(SHORT_MS);

    // And again 2.5 minutes after that renewal (not before), for as long as it is held.
    await r.pexpire(keys.served + held, SHORT_MS);
    await advance(RENEW_EVERY_MS / 2);
    await scans();
    expect(await pttl(held)).toBeLessThanOrEqual(SHORT_MS);
    await advance(RENEW_EVERY_MS / 2);
    await until('the held answer renewed again', async () => (await pttl(held)) > SHORT_MS);
    expect(await pttl(held)).toBeGreaterThan(LIVE_ANSWER_TTL_MS - 10_000);
    expect(await pttl(dropped)).toBeLessThanOrEqual(SHORT_MS);
    expect(released).toEqual([dropped]);
  });
});
