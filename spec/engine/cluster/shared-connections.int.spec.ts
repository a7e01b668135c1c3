import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import type { EdgeNode } from '../../../engine/src/cluster/edge-node.ts';
import { SharedConnections } from '../../../engine/src/cluster/shared-connections.ts';
import type { Config } from '../../../engine/src/config/config.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * MAX_CONNECTIONS_PER_ADDRESS holds for the cluster, not per edge: behind a load balancer that spreads
 * one address over two edges, each edge's own cap let it hold twice as many (found by an attacker-style
 * probe of a two-edge cluster). Each edge's count per address is kept in Redis (DB 15, a prefix of the
 * spec's own); an edge that stops refreshing its counts (it died) stops counting.
 */
const redisUp = await hasRedis('connections per address shared by edges');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The spec's edges' heartbeat lifetime (staleMs): far longer than any stall. */
const STALE_MS = 60_000;

/** An ingest node on the simulator and two edges behind a proxy (X-Forwarded-For), in process, for a suite's tests. */
function twoEdges(name: string, limits: Partial<Config>): { cluster: InProcessCluster; second: EdgeNode } {
  const two = {} as { cluster: InProcessCluster; second: EdgeNode };
  const common: Partial<Config> = { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 100, trustProxy: ['127.0.0.1'], ...limits };
  beforeAll(async () => {
    two.cluster = await startInProcessCluster({ name, common, ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100 }, leaseTtlMs: 1500 } });
    two.second = await two.cluster.addEdge();
    await two.cluster.edgeReady();
  }, 60_000);
  afterAll(() => two.cluster?.stop(), 30_000);
  return two;
}

describe.runIf(redisUp)('connections per address shared by edges', () => {
  const prefix = `test:shared-conns:${process.pid}:`;
  const conns: Redis[] = [];
  const redis = () => {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    conns.push(r);
    return r;
  };
  /**
   * A dead edge's heartbeat key expires within staleMs by itself. The specs delete it instead of
   * waiting: a heartbeat short enough to wait for expired during a stall of a loaded CI machine, before
   * the check that it still counted. Above half of STALE_MS: the edge's staleMs, not the default 15 s.
   */
  const expectExpiring = async (key: string) => {
    const ttl = await conns[0]!.pttl(key);
    expect(ttl).toBeGreaterThan(STALE_MS / 2);
    expect(ttl).toBeLessThanOrEqual(STALE_MS);
  };
  afterAll(async () => {
    const r = conns[0] ?? redis();
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    for (const c of conns) c.disconnect();
  });

  it('counts every edge: a connection over the limit is refused on any; a close makes room; a dead edge stops counting', async () => {
    const { connections: keyPrefix, connectionsAlive: alivePrefix } = leaseKeys(prefix);
    const made: SharedConnections[] = [];
    // A long wait for Redis's answer: an unanswered call says "fits", which a stalled CI machine must not fake.
    const make = (node: string, staleMs = STALE_MS) => {
      const s = new SharedConnections(redis(), { keyPrefix, alivePrefix, node, limit: 3, staleMs, timeoutMs: 30_000 });
      made.push(s);
      return s;
    };
    const [a, b] = [make('edge-a'), make('edge-b')];
    expect(await a.opened('203.0.113.40', 1)).toBe(true);
    expect(await a.opened('203.0.113.40', 2)).toBe(true);
    expect(await b.opened('203.0.113.40', 1)).toBe(true);
    expect(await b.opened('203.0.113.40', 2)).toBe(false);
    expect(await a.opened('203.0.113.40', 3)).toBe(false);
    expect(await b.opened('198.51.100.40', 1)).toBe(true); // another address
    // The refused ones close (the edges' counts go back), then one of a's.
    b.closed('203.0.113.40', 1);
    a.closed('203.0.113.40', 2);
    a.closed('203.0.113.40', 1);
    // a's closes go over a's own Redis connection: nothing orders them before b's call on its own, so
    // wait until Redis has them (an edge's count is eventually right; CI once asked b first).
    for (const deadline = Date.now() + 2000; (await conns[0]!.hget(`${keyPrefix}203.0.113.40`, 'edge-a')) !== '1'; await sleep(10)) if (Date.now() > deadline) throw new Error('a\'s closes not applied');
    expect(await b.opened('203.0.113.40', 2)).toBe(true);
    // Not an address: no key is made of it, nothing is limited here (the edge's own cap is).
    expect(await a.opened('x:*', 9)).toBe(true);
    expect(await conns[0]!.keys(`${keyPrefix}x*`)).toEqual([]);
    // An edge that dies holding connections (its heartbeat stops): not counted once its heartbeat
    // expires, though its count is still in the address's hash (which lives two minutes).
    const dead = make('edge-dead');
    expect(await dead.opened('192.0.2.40', 3)).toBe(true);
    for (const t of ['heartbeat', 'renewal']) clearInterval((dead as unknown as Record<string, NodeJS.Timeout>)[t]); // dies: no stop
    await expectExpiring(alivePrefix + 'edge-dead');
    const live = make('edge-live');
    expect(await live.opened('192.0.2.40', 1)).toBe(false);
    await conns[0]!.del(alivePrefix + 'edge-dead'); // its heartbeat expires
    expect(await conns[0]!.hget(`${keyPrefix}192.0.2.40`, 'edge-dead')).toBe('3');
    expect(await live.opened('192.0.2.40', 1)).toBe(true);
    expect(await conns[0]!.hget(`${keyPrefix}192.0.2.40`, 'edge-dead')).toBeNull(); // removed on the way
    // A stopped edge's counts leave Redis at once.
    live.stop();
    for (const deadline = Date.now() + 2000; await conns[0]!.hexists(`${keyPrefix}192.0.2.40`, 'edge-live'); await sleep(20)) if (Date.now() > deadline) throw new Error('still counted');
    for (const s of made) s.stop();
  });

  it('variants: the distinct labels every live edge holds for an address count together; a release makes room; a dead edge stops counting', async () => {
    const { connections: keyPrefix, connectionsAlive: alivePrefix, variants: variantsPrefix } = leaseKeys(prefix);
    const made: SharedConnections[] = [];
    const make = (node: string, staleMs = STALE_MS) => {
      const s = new SharedConnections(redis(), { keyPrefix, alivePrefix, node, limit: 100, staleMs, variantsPrefix, variantsLimit: 2, timeoutMs: 30_000 });
      made.push(s);
      return s;
    };
    const [a, b] = [make('edge-a'), make('edge-b')];
    const ip = '203.0.113.50';
    const take = (s: SharedConnections, ...counts: Array<[string, number]>) => s.variantsTaken(ip, 'BTCUSDT:1m', 'rsi', counts);
    // Each call carries the edge's whole set for the address, series and definition.
    expect(await take(a, ['rsi:period=7', 1])).toBe(true);
    expect(await take(b, ['rsi:period=7', 1])).toBe(true); // the same variant on another edge: still one
    expect(await take(b, ['rsi:period=7', 2], ['rsi:period=9', 1])).toBe(true); // two
    expect(await take(a, ['rsi:period=7', 1], ['rsi:period=11', 1])).toBe(false); // a third, on either edge
    expect(await take(b, ['rsi:period=7', 2], ['rsi:period=9', 1], ['rsi:period=11', 1])).toBe(false);
    // Other series, definitions and addresses are counted apart.
    expect(await a.variantsTaken(ip, 'ETHUSDT:1m', 'rsi', [['rsi:period=11', 1]])).toBe(true);
    expect(await a.variantsTaken(ip, 'BTCUSDT:1m', 'ema', [['ema:period=11', 1]])).toBe(true);
    expect(await a.variantsTaken('198.51.100.50', 'BTCUSDT:1m', 'rsi', [['rsi:period=11', 1]])).toBe(true);
    // period=9 let go of: room for another.
    b.variantsReleased(ip, 'BTCUSDT:1m', 'rsi', [['rsi:period=7', 2]]);
    const hash = `${variantsPrefix}${ip}|BTCUSDT:1m|rsi`;
    // The release goes on b's own connection: a's next call may reach Redis first (it did on a loaded machine).
    for (const deadline = Date.now() + 2000; (await conns[0]!.hget(hash, 'edge-b|rsi:period=9')) !== null; await sleep(20)) if (Date.now() > deadline) throw new Error('the release did not land');
    expect(await take(a, ['rsi:period=7', 1], ['rsi:period=11', 1])).toBe(true);
    const expected = { 'edge-a|rsi:period=7': '1', 'edge-a|rsi:period=11': '1', 'edge-b|rsi:period=7': '2' };
    expect(await conns[0]!.hgetall(hash)).toEqual(expected);
    // Fields lost (a Redis restarted empty, or removed while an edge's heartbeat lapsed) come back with
    // each edge's renewal, which writes its whole set again.
    await conns[0]!.del(hash);
    for (const s of [a, b]) (s as unknown as { renew(): void }).renew();
    const back = async () => Object.keys(await conns[0]!.hgetall(hash)).length === Object.keys(expected).length;
    for (const deadline = Date.now() + 2000; !(await back()); await sleep(20)) if (Date.now() > deadline) break;
    expect(await conns[0]!.hgetall(hash)).toEqual(expected);
    // An edge that dies holding variants stops counting with its heartbeat.
    const dead = make('edge-dead');
    expect(await dead.variantsTaken('192.0.2.50', 'BTCUSDT:1m', 'rsi', [['rsi:period=7', 1], ['rsi:period=9', 1]])).toBe(true);
    for (const t of ['heartbeat', 'renewal']) clearInterval((dead as unknown as Record<string, NodeJS.Timeout>)[t]); // dies: no stop
    await expectExpiring(alivePrefix + 'edge-dead');
    const live = make('edge-live');
    expect(await live.variantsTaken('192.0.2.50', 'BTCUSDT:1m', 'rsi', [['rsi:period=11', 1]])).toBe(false);
    await conns[0]!.del(alivePrefix + 'edge-dead'); // its heartbeat expires
    expect(await live.variantsTaken('192.0.2.50', 'BTCUSDT:1m', 'rsi', [['rsi:period=11', 1]])).toBe(true);
    // A stopped edge's holds leave Redis at once.
    a.stop();
    for (const deadline = Date.now() + 2000; await conns[0]!.hexists(`${variantsPrefix}${ip}|BTCUSDT:1m|rsi`, 'edge-a|rsi:period=7'); await sleep(20)) if (Date.now() > deadline) throw new Error('still held');
    for (const s of made) s.stop();
  });

  describe('two in-process edges behind a proxy (X-Forwarded-For), MAX_CONNECTIONS_PER_ADDRESS=2', () => {
    const two = twoEdges('sharedconns', { maxConnectionsPerAddress: 2 });
    const connect = (edge: { url: string }, address: string) => two.cluster.clientAt(edge, '/ws/BTCUSDT?interval=1m', address);
    const served = (c: EngineClient) => c.until((x) => x.historical() !== undefined, 20_000, 'historical');

    it('one on each edge is the address\'s two: a third on either is refused (reproduced: each edge let it hold two); a close makes room', { timeout: 60_000 }, async () => {
      const one = connect(two.cluster.edge, '203.0.113.41');
      await served(one);
      await served(connect(two.second, '203.0.113.41'));
      for (const edge of [two.second, two.cluster.edge]) {
        const third = connect(edge, '203.0.113.41');
        await third.until((x) => x.closeCode !== undefined, 15_000, 'the refusal');
        // Served while the cluster's count is asked (a first message is not held up by Redis), then closed.
        expect(third.closeCode).toBe(1013);
        expect(third.messages.at(-1)).toMatchObject({ type: 'error', code: 'too_many_connections' });
      }
      await served(connect(two.second, '198.51.100.41'));
      one.close();
      // Its edge's count reaches Redis: a new one fits on the other edge.
      let again: EngineClient | undefined;
      for (const deadline = Date.now() + 10_000; ; await sleep(200)) {
        again = connect(two.second, '203.0.113.41');
        await again.until((x) => x.closeCode !== undefined || x.historical() !== undefined, 15_000, 'an answer');
        if (again.historical()) break;
        if (Date.now() > deadline) throw new Error('no room after a close');
      }
    });
  });
});

describe.runIf(redisUp)('derived-series variants per address shared by edges (MAX_VARIANTS_PER_ADDRESS = 4)', () => {
  const two = twoEdges('sharedvariants', { maxConnectionsPerAddress: 20, seriesDir: 'spec/fixtures/series-words', onDemandPerMinute: 600 });
  const ask = (edge: { url: string }, address: string, periods: number[]) => {
    const c = two.cluster.clientAt(edge, `/ws/BTCUSDT?interval=1m&series=${periods.map((p) => `tagged-sma:period=${p}`).join(',')}`, address);
    return c.until((x) => x.closeCode !== undefined || x.historical() !== undefined, 20_000, 'an answer').then(() => c);
  };

  it("three on one edge and two more on the other are five: refused, those two failed to that socket, its candles served (reproduced: each edge let an address hold four; then: the whole chart refused); one more fits; another address is not counted", { timeout: 60_000 }, async () => {
    // Served means every variant computed: a historical carrying failed statuses is a refusal too.
    const variantsServed = (c: EngineClient) => {
      const h = c.historical() as { series?: Record<string, unknown>; seriesStatus?: unknown } | undefined;
      return { series: Object.keys(h?.series ?? {}).sort(), seriesStatus: h?.seriesStatus };
    };
    const labels = (periods: number[]) => periods.map((p) => `tagged-sma:period=${p}`).sort();
    expect(variantsServed(await ask(two.cluster.edge, '203.0.113.51', [6, 7, 8]))).toEqual({ series: labels([6, 7, 8]), seriesStatus: undefined });
    const over = await ask(two.second, '203.0.113.51', [9, 10]);
    const error = "at most 4 parameter variants of 'tagged-sma' on BTCUSDT 1m from one address";
    expect(over.historical()).toMatchObject({ series: { 'tagged-sma:period=9': [], 'tagged-sma:period=10': [] }, seriesStatus: { 'tagged-sma:period=9': { state: 'failed', error }, 'tagged-sma:period=10': { state: 'failed', error } } });
    expect(over.closeCode).toBeUndefined();
    // The same variants again on the other edge count once (the refused ones were not held).
    const fits = await ask(two.second, '203.0.113.51', [6, 9]);
    expect(variantsServed(fits)).toEqual({ series: labels([6, 9]), seriesStatus: undefined });
    expect(variantsServed(await ask(two.second, '198.51.100.51', [10, 11]))).toEqual({ series: labels([10, 11]), seriesStatus: undefined });
  });
});

describe.runIf(redisUp)('derived-series instances per address shared by edges (a share of MAX_SERIES_INSTANCES)', () => {
  // MAX_SERIES_INSTANCES=48: a share of 16 (instancesPerAddress) for the whole cluster.
  const two = twoEdges('sharedinstances', { intervals: ['1m', '5m'], maxConnectionsPerAddress: 20, maxSeriesInstances: 48, seriesDir: 'series', onDemandPerMinute: 600 });
  const five = (def: string, param: string, from: number) => [def, ...[0, 1, 2, 3].map((i) => `${def}:${param}=${from + i}`)];
  const ask = (edge: { url: string }, address: string, interval: string, labels: string[]) => {
    const c = two.cluster.clientAt(edge, `/ws/BTCUSDT?interval=${interval}&series=${encodeURIComponent(labels.join(','))}`, address);
    return c.until((x) => x.closeCode !== undefined || x.historical() !== undefined, 30_000, 'an answer').then(() => c);
  };
  const overShare = (c: { historical(): unknown }) =>
    Object.entries((c.historical() as { seriesStatus?: Record<string, { state: string; error?: string }> }).seriesStatus ?? {})
      .filter(([, st]) => st.state === 'failed' && /derived series held at once from one address/.test(st.error ?? ''))
      .map(([label]) => label);

  it('ten on one edge and seven more on the other are seventeen: that socket\'s new ones are failed to it, its candles served (reproduced: each edge counted its own, and one address held the whole pool); six fit; another address is not counted', { timeout: 90_000 }, async () => {
    const first = await ask(two.cluster.edge, '203.0.113.61', '1m', [...five('rsi', 'period', 30), ...five('ema-cross', 'fast', 4)]);
    expect(overShare(first)).toEqual([]);
    const seven = [...five('rsi', 'period', 30), 'ema-cross', 'ema-cross:fast=4'];
    const over = await ask(two.second, '203.0.113.61', '5m', seven);
    expect(overShare(over).sort()).toEqual([...seven].sort());
    expect(over.closeCode).toBeUndefined();
    expect((over.historical() as { data: unknown[] }).data.length).toBeGreaterThan(0);
    expect(overShare(await ask(two.second, '203.0.113.61', '5m', seven.slice(0, 6)))).toEqual([]);
    expect(overShare(await ask(two.second, '198.51.100.61', '5m', seven))).toEqual([]);
  });
});
