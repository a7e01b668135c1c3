import { afterAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { SharedConnections } from '../../../engine/src/cluster/shared-connections.ts';
import { SharedRateLimit } from '../../../engine/src/cluster/shared-rate-limit.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { IPV6_BLOCK_SHARE } from '../../../engine/src/server/address-rate-limit.ts';
import { bareEdgeDemand } from '../../helpers/bare-edge-demand.ts';
import { hasRedis } from '../../helpers/services.ts';
import { suiteConnections } from '../../helpers/suite-connections.ts';

/**
 * An IPv6 /48's pool (IPV6_BLOCK_SHARE times an address's ration, each /64 being an address) holds for
 * the cluster, not per edge: the shared buckets and counts were kept per /64 only, so the pool lived in
 * each edge's own limiter and a /48 spread over N edges got N pools (reproduced: 16 new series through
 * one edge, 32 through two, 64 through four). Redis DB 15, a prefix of the spec's own.
 */
const prefix = `test:shared-block-pool:${process.pid}:`;

/** The i-th /64 of one /48 (2001:db8:7::/48), as an edge rations it. */
const in48 = (i: number) => `2001:db8:7:${i.toString(16)}::`;

describe.runIf(await hasRedis('IPv6 /48 pool shared by edges'))('an IPv6 /48 pool, one for every edge (Redis DB 15)', () => {
  const { conns, demands, redis, close } = suiteConnections(prefix);
  afterAll(close);

  // A ration that refills one token in 1,000 s (the /48's in 62 s): nothing refills during the test.
  const perMinute = 0.06;

  it('new series: 40 /64s of one /48 over two edges start IPV6_BLOCK_SHARE in all, as through one (was one pool per edge)', async () => {
    const keys = leaseKeys(`${prefix}demand:`);
    const edge = (node: string) => {
      const r = redis();
      const d = bareEdgeDemand(r, keys, node, { perMinute, sharedStarts: new SharedRateLimit(r, { keyPrefix: keys.startRate, perMinute, burst: 1 }) });
      demands.push(d);
      return d;
    };
    const edges = [edge('edge-1'), edge('edge-2')];
    // No leader answers: an ask that passed every ration waits (counted as asked), the others are refused.
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      void edges[i % 2]!.want(seriesId(`C${i}USDT`, '1m'), in48(i)).then((o) => {
        if (!o.ok && o.code === 'rate_limited') refused++;
      });
    }
    const asked = () => edges.reduce((n, d) => n + d.counts().asked, 0);
    await expect.poll(() => asked() + refused).toBe(40);
    expect(asked()).toBe(IPV6_BLOCK_SHARE);
  });

  it("the bucket: a /48's is charged once its /64's let it, under a key of the /48 (normalized); another /48 and IPv4 are not pooled", async () => {
    const keyPrefix = leaseKeys(`${prefix}rate:`).startRate;
    const limit = () => new SharedRateLimit(redis(), { keyPrefix, perMinute, burst: 1 });
    const edges = [limit(), limit()];
    const waits: number[] = [];
    for (let i = 0; i < 20; i++) waits.push(await edges[i % 2]!.take(in48(i)));
    expect(waits.slice(0, IPV6_BLOCK_SHARE)).toEqual(Array(IPV6_BLOCK_SHARE).fill(0));
    for (const w of waits.slice(IPV6_BLOCK_SHARE)) expect(w).toBeGreaterThan(0);
    // The same /48 however its address is spelled; its key is the /48's plain form.
    expect(await edges[0]!.take('2001:0DB8:0007:00ff::')).toBeGreaterThan(0);
    expect(await conns[0]!.exists(`${keyPrefix}2001:db8:7::/48`)).toBe(1);
    expect(await edges[1]!.take('2001:db8:8:1::')).toBe(0);
    for (let i = 0; i < 20; i++) expect(await edges[i % 2]!.take(`198.51.100.${i}`)).toBe(0);
    expect(await conns[0]!.exists(`${keyPrefix}198.51.100.0/24`)).toBe(0);
  });

  it('connections: /64s of one /48 over two edges hold IPV6_BLOCK_SHARE x MAX_CONNECTIONS_PER_ADDRESS in all (was per edge); a close makes room; a stop takes its count out', async () => {
    const { connections: keyPrefix, connectionsAlive: alivePrefix } = leaseKeys(`${prefix}conns:`);
    const made: SharedConnections[] = [];
    const make = (node: string) => {
      const s = new SharedConnections(redis(), { keyPrefix, alivePrefix, node, limit: 1 });
      made.push(s);
      return s;
    };
    const [a, b] = [make('edge-a'), make('edge-b')];
    const on = (i: number) => (i % 2 ? b : a);
    const fits: boolean[] = [];
    for (let i = 0; i < 20; i++) fits.push(await on(i).opened(in48(i), 1));
    expect(fits).toEqual([...Array<boolean>(IPV6_BLOCK_SHARE).fill(true), ...Array<boolean>(20 - IPV6_BLOCK_SHARE).fill(false)]);
    const block = `${keyPrefix}2001:db8:7::/48`;
    expect(await conns[0]!.hgetall(block)).toEqual({ 'edge-a': '8', 'edge-b': '8' });
    // The refused ones close, then one of a's: room for one more, on either edge.
    for (let i = IPV6_BLOCK_SHARE; i < 20; i++) on(i).closed(in48(i), 0);
    a.closed(in48(0), 0);
    // Each edge's closes go over its own Redis connection: wait until Redis has them.
    await expect.poll(() => conns[0]!.hget(block, 'edge-a')).toBe('7');
    await expect.poll(async () => (await conns[0]!.exists(`${keyPrefix}${in48(18)}`, `${keyPrefix}${in48(19)}`)) === 0).toBe(true);
    expect(await b.opened(in48(20), 1)).toBe(true);
    expect(await a.opened(in48(21), 1)).toBe(false);
    a.closed(in48(21), 0);
    // Another /48 is counted apart.
    expect(await a.opened('2001:db8:8:1::', 1)).toBe(true);
    // A stopped edge's counts, its /48's too, leave Redis at once.
    a.stop();
    await expect.poll(() => conns[0]!.hexists(block, 'edge-a')).toBe(0);
    expect(await conns[0]!.hget(block, 'edge-b')).toBe('9');
    for (const s of made) s.stop();
  });
});
