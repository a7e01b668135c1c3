import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * A leader whose connection to Redis goes silent (no error, no reset: a dead route, a frozen Redis)
 * stops claiming the lead before its lease could have expired, so two nodes never say they lead at
 * once. Before, it said `"leader": true` for as long as the silence lasted (37 s in an attacker-style
 * probe) beside the node that had taken the lease. The real Redis (DB 15), the leader's connection
 * through a proxy that can swallow everything.
 */
const redisUp = await hasRedis('lease: a leader whose Redis goes silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Long enough that only a stall of this process near 3 s in the 600 ms before a cut could end a's lease early.
const TTL = 3000;

describe.runIf(redisUp)('lease: a leader whose Redis goes silent', () => {
  let proxy: HoleProxy;
  const conns: Redis[] = [];
  const leases: LeaderLease[] = [];
  beforeAll(async () => {
    proxy = await HoleProxy.start(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
  });
  afterAll(async () => {
    for (const l of leases) await l.stop().catch(() => undefined);
    for (const c of conns) c.disconnect();
    await proxy?.close();
  });

  it('steps down before its lease could expire; the standby then leads alone', async () => {
    const keys = leaseKeys(`test:lease-hang:${process.pid}:`);
    const db = new URL(REDIS_URL).pathname.slice(1) || '15';
    // No command timeout here: the watchdog alone must step it down (a renewal that never returns fails nothing).
    const viaProxy = new Redis({ host: '127.0.0.1', port: proxy.port, db: Number(db), maxRetriesPerRequest: 1 });
    const direct = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: TTL });
    conns.push(viaProxy, direct);
    viaProxy.on('error', () => {});
    const reasons: string[] = [];
    // Stamped as it steps down, not by a polling loop a loaded machine runs late.
    let aDownAt: number | undefined;
    const log = (_l: string, m: string) => {
      if (m.startsWith('leadership lost')) aDownAt ??= performance.now();
      reasons.push(m);
    };
    const a = new LeaderLease({ redis: viaProxy, keys, nodeId: 'a', ttlMs: TTL, log });
    leases.push(a);
    a.start();
    for (const deadline = Date.now() + 5000; !a.state.leader; await sleep(20)) if (Date.now() > deadline) throw new Error('a does not lead');
    const b = new LeaderLease({ redis: direct, keys, nodeId: 'b', ttlMs: TTL });
    leases.push(b);
    b.start();
    await sleep(600);
    expect(b.state.leader).toBe(false);
    proxy.hole();
    const holedAt = performance.now();
    // The lease's TTL as this process's timers see it: the last renewal answered came before the
    // cut, so a must step down before this timer fires. Timers fire in the order they are due, so a
    // stall of this process makes both late, never the step-down alone.
    let ttlAt: number | undefined;
    setTimeout(() => (ttlAt = performance.now()), TTL);
    let both = 0;
    // At least 3 TTLs, and on until b leads: a stall can hold up b's next try past them.
    for (const end = Date.now() + 3 * TTL, cap = end + 10_000; (Date.now() < end || !b.state.leader) && Date.now() < cap; await sleep(10)) {
      if (a.state.leader && b.state.leader) both++;
    }
    expect(both).toBe(0);
    expect(b.state.leader).toBe(true);
    expect(aDownAt! - holedAt).toBeLessThan(ttlAt! - holedAt);
    expect(reasons.join('\n')).toMatch(/did not answer a renewal/);
  }, 40_000);

  it("steps down on time when the wall clock steps back during a renewal (an NTP step: it was the step's length late, both nodes saying they lead)", async () => {
    const keys = leaseKeys(`test:lease-clock:${process.pid}:`);
    const url = new URL(REDIS_URL);
    const cut = await HoleProxy.start(Number(url.port || 6379), url.hostname);
    const conn = new Redis({ host: '127.0.0.1', port: cut.port, db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1 });
    conns.push(conn);
    conn.on('error', () => {});
    let downAt: number | undefined;
    const a = new LeaderLease({ redis: conn, keys, nodeId: 'a', ttlMs: TTL, log: (_l, m) => void (m.startsWith('leadership lost') && (downAt ??= performance.now())) });
    leases.push(a);
    a.start();
    for (const deadline = performance.now() + 5000; !a.state.leader; await sleep(20)) if (performance.now() > deadline) throw new Error('a does not lead');
    // The next renewal's answer comes, the wall clock steps back 10 s, and the route to Redis is cut.
    const wall = Date.now.bind(Date);
    let back = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => wall() - back);
    const evaluate = conn.eval.bind(conn);
    let cutAt: number | undefined;
    // The lease's TTL from that renewal's answer, on this process's timers (see the test above).
    let ttlAt: number | undefined;
    conn.eval = ((...args: Parameters<Redis['eval']>) =>
      evaluate(...args).then((r) => {
        if (cutAt === undefined) {
          back = 10_000;
          cut.hole();
          cutAt = performance.now();
          setTimeout(() => (ttlAt = performance.now()), TTL);
        }
        return r;
      })) as Redis['eval'];
    try {
      for (const deadline = performance.now() + 15_000; downAt === undefined || ttlAt === undefined; await sleep(20)) if (performance.now() > deadline) break;
      expect(a.state.leader).toBe(false);
      // Within the lease's TTL of that renewal, as without a step (a step's length late, it comes after the timer).
      expect(downAt! - cutAt!).toBeLessThan(ttlAt! - cutAt!);
    } finally {
      clock.mockRestore();
      await a.stop().catch(() => undefined);
      await cut.close();
    }
  }, 30_000);

  it('an acquire that timed out and ran late is given back at the next try: the node leads at once, not a TTL later (reproduced: nobody led for 3 s after Redis came back)', async () => {
    const keys = leaseKeys(`test:lease-late:${process.pid}:`);
    const url = new URL(REDIS_URL);
    const late = await HoleProxy.start(Number(url.port || 6379), url.hostname);
    // Commands time out (as the lease's connection's do) while the proxy holds them.
    const conn = new Redis({ host: '127.0.0.1', port: late.port, db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1, commandTimeout: 300 });
    conns.push(conn);
    conn.on('error', () => {});
    await conn.ping();
    late.hole({ keep: true });
    // A TTL far above what a busy machine may add (a try every second, as with a 3 s TTL): "a TTL
    // later" is 30 s, "at once" the next try, and 10 s tells them apart however loaded the host.
    const a = new LeaderLease({ redis: conn, keys, nodeId: 'a', ttlMs: 30_000, renewEveryMs: 1000 });
    leases.push(a);
    a.start();
    await sleep(500); // its acquire timed out, unanswered
    late.open(); // Redis runs it now: the lease holds a token `a` never heard of
    const openedAt = Date.now();
    for (const deadline = openedAt + 15_000; !a.state.leader; await sleep(20)) if (Date.now() > deadline) throw new Error('a does not lead within 15 s');
    expect(Date.now() - openedAt).toBeLessThan(10_000);
    await a.stop();
    await late.close();
  }, 40_000);
});
