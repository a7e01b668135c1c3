import { createServer, type Server } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome } from '../../../engine/src/pipeline/series-demand.ts';
import type { EdgeDemandConfig } from '../../../engine/src/cluster/edge-demand.ts';
import { bareEdgeDemand } from '../../helpers/bare-edge-demand.ts';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { SharedRateLimit } from '../../../engine/src/cluster/shared-rate-limit.ts';
import { hasRedis } from '../../helpers/services.ts';
import { suiteConnections } from '../../helpers/suite-connections.ts';

const prefix = `test:shared-rate:${process.pid}:`;

/** What a want() has come to after a moment: its outcome, or still waiting for the leader. */
const after = (p: Promise<DemandOutcome>, ms = 300) => Promise.race([p, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms))]);

describe.runIf(await hasRedis('shared rate limit'))('new on-demand series per address, one budget for every edge (Redis DB 15)', () => {
  const { conns, demands, redis, close } = suiteConnections(prefix);
  /** An edge's demand with no leader behind it (an ask that passed the limits waits), on its own connection. */
  const edgeDemand = (r: Redis, keys: ReturnType<typeof leaseKeys>, node: string, o: Partial<EdgeDemandConfig>) => {
    const d = bareEdgeDemand(r, keys, node, o);
    demands.push(d);
    return d;
  };
  afterAll(close);

  it('an address that spent its burst on one edge is refused on another; another address is not; the key expires', async () => {
    const limit = (r: Redis) => new SharedRateLimit(r, { keyPrefix: leaseKeys(prefix).startRate, perMinute: 2, burst: 1 });
    const [a, b] = [limit(redis()), limit(redis())];
    expect(await a.take('203.0.113.5')).toBe(0);
    const wait = await b.take('203.0.113.5');
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(30);
    expect(await b.take('198.51.100.5')).toBe(0);
    const ttl = await conns[0]!.pttl(`${leaseKeys(prefix).startRate}203.0.113.5`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(31_000);
    // Not an address: no key is made of it (and nothing is limited here: the edge's own bucket is).
    expect(await a.take('x:*\n')).toBe(0);
    expect(await conns[0]!.keys(`${leaseKeys(prefix).startRate}x*`)).toEqual([]);
  });

  it('two edges (EdgeDemand) share it: a cold series refused as rate_limited on the second edge (reproduced: each edge had its own)', async () => {
    const keys = leaseKeys(`${prefix}demand:`);
    const edge = (node: string) => {
      const r = redis();
      return edgeDemand(r, keys, node, { perMinute: 2, sharedStarts: new SharedRateLimit(r, { keyPrefix: keys.startRate, perMinute: 2, burst: 1 }) });
    };
    const [e1, e2] = [edge('edge-1'), edge('edge-2')];
    // No leader answers here: an ask that passed the limits waits for it.
    // Asked of the leader: the edge holds an entry for it.
    expect(await after(e1.want(seriesId('ETHUSDT', '1m'), '203.0.113.6'))).toBe('waiting');
    expect(e1.counts().asked).toBe(1);
    expect(await after(e2.want(seriesId('SOLUSDT', '1m'), '203.0.113.6'))).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(e2.counts().asked).toBe(0);
    expect(await after(e2.want(seriesId('XRPUSDT', '1m'), '198.51.100.6'))).toBe('waiting');
    expect(e2.counts().asked).toBe(1);
    // Many clients of one new series at once (here from one address): charged once, all join it.
    const many = Array.from({ length: 5 }, () => after(e2.want(seriesId('ADAUSDT', '1m'), '192.0.2.7')));
    expect(await Promise.all(many)).toEqual(Array(5).fill('waiting'));
    expect(e2.counts().asked).toBe(2);
  });

  it('a client that goes while its charge is still being taken holds nothing (reproduced: the series was held for good)', async () => {
    const keys = leaseKeys(`${prefix}gone:`);
    const r = redis();
    // The cluster's bucket answers when the test says so: the clients close meanwhile.
    const charges: Array<() => void> = [];
    const d = edgeDemand(r, keys, 'edge-gone', { idleMs: 100, sharedStarts: { take: () => new Promise<number>((res) => charges.push(() => res(0))) } });
    const eth = seriesId('ETHUSDT', '1m');
    // Two clients ask (the second joins the first's charge); both go before it is taken.
    const asks = [d.want(eth, '203.0.113.20'), d.want(eth, '203.0.113.21')];
    d.release(eth);
    d.release(eth);
    // A third stays: its ask is made and held.
    const sol = seriesId('SOLUSDT', '1m');
    const kept = d.want(sol, '203.0.113.22');
    d.release(eth); // one too many: counts nothing
    for (const c of charges) c();
    expect(await Promise.all(asks.map((a) => after(a)))).toEqual([expect.objectContaining({ ok: false }), expect.objectContaining({ ok: false })]);
    expect(await after(kept)).toBe('waiting');
    // Only SOLUSDT was asked of the leader and is held by this edge.
    expect(d.counts()).toEqual({ asked: 1, following: 0, live: 0 });
    expect(await r.zrange(keys.wanted, 0, -1)).toEqual(['SOLUSDT:1m']);
  });

  it('says an ask waits for its series (the client may be told `loading`) only once the cluster took its charge, never before a refusal (a probe saw loading, then a refusal)', async () => {
    const r = redis();
    const answers: number[] = [];
    // The first address's charge is refused by the cluster, the second's taken.
    const d = edgeDemand(r, leaseKeys(`${prefix}waiting:`), 'edge-waiting', { sharedStarts: { take: () => new Promise<number>((res) => setTimeout(() => res(answers.shift() ?? 0), 20)) } });
    answers.push(30, 0);
    const told: string[] = [];
    const refused = d.want(seriesId('ETHUSDT', '1m'), '203.0.113.30', undefined, () => told.push('ETHUSDT'));
    const asked = d.want(seriesId('SOLUSDT', '1m'), '203.0.113.31', undefined, () => told.push('SOLUSDT'));
    expect(told).toEqual([]);
    expect(await after(refused)).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(await after(asked)).toBe('waiting');
    expect(told).toEqual(['SOLUSDT']);
  });
});

describe('a Redis that does not answer in time (a silent server on loopback)', () => {
  it('limits nothing and counts the call unanswered once, also when Redis rejects it later (was counted twice)', async () => {
    // Accepts and reads, never answers: the call times out here, then ioredis rejects it (commandTimeout).
    const silent: Server = createServer((s) => s.on('data', () => undefined).on('error', () => undefined));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const r = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0, commandTimeout: 300 });
    r.on('error', () => undefined);
    let unanswered = 0;
    const limit = new SharedRateLimit(r, { keyPrefix: 'test:silent:', perMinute: 1, burst: 1, timeoutMs: 50, onUnanswered: () => unanswered++ });
    try {
      expect(await limit.take('203.0.113.9')).toBe(0);
      expect(unanswered).toBe(1);
      await new Promise((res) => setTimeout(res, 500)); // past ioredis's own timeout: the late rejection
      expect(unanswered).toBe(1);
    } finally {
      r.disconnect();
      await new Promise((res) => silent.close(res));
    }
  });
});
