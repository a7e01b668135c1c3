import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { hasRedis, REDIS_HOST, REDIS_URL } from '../../helpers/services.ts';

/**
 * A leader whose every round trip to Redis takes 30 % of the lease's TTL keeps its lead: each renewal
 * reaches Redis well within the lease. Reproduced: renewals were scheduled a period after the last
 * one's answer, each started a round trip later, and the watchdog (counted from a renewal's start)
 * stepped the only node down every other renewal: 6 new terms in 15 s at a 1.5 s TTL (450 ms round
 * trips), 3 at the default 3 s (900 ms). The real Redis (DB 15), through a proxy that delays each way.
 */
const redisUp = await hasRedis('lease: a steady round trip to Redis well within the TTL');

/** A TCP proxy to Redis delaying every chunk `oneWayMs` each way. */
function delayProxy(oneWayMs: number): Promise<Server> {
  const server = createServer((client: Socket) => {
    const up = connect(Number(new URL(REDIS_URL).port || 6379), REDIS_HOST);
    client.on('data', (d) => setTimeout(() => up.write(d), oneWayMs));
    up.on('data', (d) => setTimeout(() => client.write(d), oneWayMs));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('error', () => {});
    up.on('error', () => {});
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe.runIf(redisUp)('lease: a steady round trip to Redis well within the TTL', () => {
  const cleanup: Array<() => unknown> = [];
  afterAll(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it.each([1500, 3000])('TTL %i ms, round trips of 30 percent of it: the only node keeps its one term', async (ttlMs) => {
    const proxy = await delayProxy(Math.round((ttlMs * 0.3) / 2));
    cleanup.push(() => proxy.close());
    const r = new Redis({ host: '127.0.0.1', port: (proxy.address() as { port: number }).port, db: Number(new URL(REDIS_URL).pathname.slice(1) || 15), maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    cleanup.push(() => r.disconnect());
    await r.ping(); // connected: the handshake's round trips are not the lease's
    const keys = leaseKeys(`test:lease-rtt:${process.pid}:${ttlMs}:`);
    cleanup.push(() => r.del(keys.lease, keys.term));
    const lost: string[] = [];
    const lease = new LeaderLease({ redis: r, keys, nodeId: 'a', ttlMs, log: (_l, m) => void (m.startsWith('leadership lost') && lost.push(m)) });
    lease.start();
    // Five TTLs: more than enough renewals for the old cadence's step-downs (one every ~2 renewals).
    await new Promise((res) => setTimeout(res, 5 * ttlMs));
    const { leader, term } = lease.state;
    await lease.stop();
    expect({ leader, term, lost }).toEqual({ leader: true, term: 1, lost: [] });
  }, 40_000);
});
