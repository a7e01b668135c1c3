import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { SharedConnectLimiter } from '../../../engine/src/cluster/shared-connect-limiter.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { ConnectLimiter } from '../../../engine/src/sources/connect-limiter.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * Binance allows 300 connection attempts per 5 minutes per IP, and every ingest node dials it (the
 * standbys keep their upstream hot): two on one host, as the compose file runs them, each counted
 * its own 250 (500 together, then a ban). Their limiters now share one window in Redis. The real
 * Redis (DB 15), each suite's keys under a prefix of its own; a window of a minute, so nothing leaves
 * it while a test runs; a dial that waits is shown pending once Redis has answered it, never by a timer.
 */
const redisUp = await hasRedis('cluster: the ingest nodes share one budget of connection attempts');
const WINDOW_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node's connection as the ingest node's lease connection is made (no offline queue: an unreachable Redis refuses at once). */
async function nodeRedis(port?: number): Promise<Redis> {
  const url = new URL(REDIS_URL);
  const r = new Redis({ host: url.hostname, port: port ?? Number(url.port || 6379), db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  r.on('error', () => {});
  await r.connect();
  return r;
}

/** Whether `p` settled once `via` answered what was sent before (Redis answers in order) and the turn's callbacks ran. */
async function settled(p: Promise<unknown>, via?: Redis): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await via?.ping();
  await new Promise((r) => setImmediate(r));
  return done;
}

describe.runIf(redisUp)('cluster: the ingest nodes share one budget of connection attempts', () => {
  let redis: Redis;
  const conns: Redis[] = [];
  const stops: AbortController[] = [];
  let n = 0;
  const keysOf = () => leaseKeys(`spec-connect-${process.pid}-${Date.now()}-${n++}:`);
  /** A signal aborted after the test, so a dial left waiting ends. */
  const signal = () => {
    const ac = new AbortController();
    stops.push(ac);
    return ac.signal;
  };
  const node = async (keys: ReturnType<typeof leaseKeys>, max: number, o: { port?: number; timeoutMs?: number; log?: (l: 'info' | 'warn', m: string) => void } = {}) => {
    const r = await nodeRedis(o.port);
    conns.push(r);
    return { redis: r, limiter: new SharedConnectLimiter({ redis: r, keys, max, windowMs: WINDOW_MS, timeoutMs: o.timeoutMs, log: o.log }) };
  };

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    for (const ac of stops.splice(0)) ac.abort();
    for (const c of conns.splice(0)) c.disconnect();
    await deletePrefix(redis, `spec-connect-${process.pid}-`);
  });
  afterAll(() => redis?.disconnect());

  it('the old wiring: two ingest nodes, each with its own ConnectLimiter of N, dial 2N times in one window', async () => {
    const N = 5;
    const nodes = [new ConnectLimiter(N, WINDOW_MS), new ConnectLimiter(N, WINDOW_MS)];
    for (const l of nodes) for (let i = 0; i < N; i++) expect(await settled(l.acquire(signal()))).toBe(true);
    expect(nodes[0]!.recent + nodes[1]!.recent).toBe(2 * N);
  });

  it('two nodes with a budget of N get N attempts in the window together, not 2N; the next waits on each', async () => {
    const N = 5;
    const keys = keysOf();
    const a = await node(keys, N);
    const b = await node(keys, N);
    for (let i = 0; i < 3; i++) await a.limiter.acquire();
    for (let i = 0; i < 2; i++) await b.limiter.acquire();
    expect(await redis.zcard(keys.connectAttempts)).toBe(N);
    expect(await settled(a.limiter.acquire(signal()), a.redis)).toBe(false);
    expect(await settled(b.limiter.acquire(signal()), b.redis)).toBe(false);
    expect(await redis.zcard(keys.connectAttempts)).toBe(N);
    // Each counts its own too (what it falls back on without Redis).
    expect([a.limiter.recent, b.limiter.recent]).toEqual([3, 2]);
  });

  it("keeps the re-dials' reserve across the nodes: first dials get four fifths of N together, re-dials the rest", async () => {
    const N = 10;
    const keys = keysOf();
    const a = await node(keys, N);
    const b = await node(keys, N);
    for (let i = 0; i < 5; i++) await a.limiter.acquire(undefined, true);
    for (let i = 0; i < 3; i++) await b.limiter.acquire(undefined, true);
    expect(await settled(a.limiter.acquire(signal(), true), a.redis)).toBe(false);
    expect(await settled(b.limiter.acquire(signal(), true), b.redis)).toBe(false);
    // A connection carrying streams still re-dials, on either node, up to N.
    await a.limiter.acquire();
    await b.limiter.acquire();
    expect(await redis.zcard(keys.connectAttempts)).toBe(N);
    expect(await settled(a.limiter.acquire(signal()), a.redis)).toBe(false);
  });

  it("a node's first dial, while its connection is still opening, is the cluster's (it waits for the connection, not on its own window)", async () => {
    const keys = keysOf();
    const url = new URL(REDIS_URL);
    for (const lazyConnect of [false, true]) {
      // As the ingest node's lease connection: no offline queue, so a command before 'ready' is refused.
      const r = new Redis({ host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect });
      r.on('error', () => {});
      conns.push(r);
      expect(r.status).toBe(lazyConnect ? 'wait' : 'connecting');
      const a = new SharedConnectLimiter({ redis: r, keys, max: 10, windowMs: WINDOW_MS });
      await a.acquire();
      expect(a.fallbacks).toBe(0);
    }
    expect(await redis.zcard(keys.connectAttempts)).toBe(2);
  });

  it("one node's Retry-After holds the other's dials too", async () => {
    const keys = keysOf();
    const a = await node(keys, 10);
    const b = await node(keys, 10);
    await b.limiter.acquire();
    a.limiter.holdFor(60_000);
    await a.redis.ping(); // the hold is written before what is sent next
    expect(await redis.pttl(keys.connectHold)).toBeGreaterThan(50_000);
    expect(await settled(b.limiter.acquire(signal()), b.redis)).toBe(false);
    expect(await settled(a.limiter.acquire(signal()), a.redis)).toBe(false);
    expect(await redis.zcard(keys.connectAttempts)).toBe(1);
    // A shorter hold does not shorten it.
    b.limiter.holdFor(1000);
    await b.redis.ping();
    expect(await redis.pttl(keys.connectHold)).toBeGreaterThan(50_000);
  });

  it('a Redis that does not answer in time: the node dials on its own window (what it dialled through Redis counted), logged once, and is the cluster\'s again once Redis answers', async () => {
    const proxy = await HoleProxy.start(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    try {
      const keys = keysOf();
      const logs: string[] = [];
      let t = 0;
      const r = await nodeRedis(proxy.port);
      conns.push(r);
      const a = new SharedConnectLimiter({ redis: r, keys, max: 4, windowMs: WINDOW_MS, timeoutMs: 100, now: () => t, log: (l, m) => logs.push(`${l}: ${m}`) });
      for (let i = 0; i < 2; i++) await a.acquire();
      // Held, not lost: delivered in order when it opens (ioredis pairs replies with commands by order).
      proxy.hole({ keep: true });
      await a.acquire();
      await a.acquire();
      expect(a.fallbacks).toBe(2);
      expect(logs).toEqual([expect.stringMatching(/^warn: redis did not answer in time/)]);
      // Its own window holds the two it dialled through Redis: four in all, no fifth (nor a question to Redis).
      expect(await settled(a.acquire(signal()))).toBe(false);
      expect(a.fallbacks).toBe(2);
      proxy.open();
      await r.ping();
      // The late answers took their attempts in Redis too: the cluster's window is full.
      expect(await redis.zcard(keys.connectAttempts)).toBe(4);
      // A minute on for this node's own window: the cluster's (Redis's clock) still holds the next dial, and the node says it shares again.
      t = WINDOW_MS + 1;
      expect(await settled(a.acquire(signal()), r)).toBe(false);
      expect(logs).toEqual([expect.stringMatching(/^warn: /), expect.stringMatching(/^info: redis answers again/)]);
    } finally {
      await proxy.close();
    }
  });

  it('an unreachable Redis: every dial goes on the local window at once, which still limits it', async () => {
    const proxy = await HoleProxy.start(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    try {
      const keys = keysOf();
      const logs: string[] = [];
      const a = await node(keys, 3, { port: proxy.port, log: (l, m) => logs.push(`${l}: ${m}`) });
      proxy.cut();
      for (const deadline = Date.now() + 10_000; a.redis.status === 'ready'; await sleep(20)) if (Date.now() > deadline) throw new Error('the cut is not seen');
      for (let i = 0; i < 3; i++) await a.limiter.acquire();
      expect(a.limiter.fallbacks).toBe(3);
      expect(await settled(a.limiter.acquire(signal()))).toBe(false);
      expect(logs).toEqual([expect.stringMatching(/^warn: redis did not answer in time/)]);
      expect(await redis.zcard(keys.connectAttempts)).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});

describe.runIf(redisUp)('cluster: an ingest node dials on the shared budget', () => {
  let sim: SimExchange;
  let redis: Redis;
  const nodes: IngestNode[] = [];
  const prefix = `spec-connect-wired-${process.pid}-${Date.now()}:`;

  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    redis = new Redis(REDIS_URL);
    const common = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, port: 0, host: '127.0.0.1', clientDir: '', seriesDir: '', log: silentLogger, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, leaseTtlMs: 1500, source: 'binance' as const, restUrl: sim.restUrl, wsUrl: sim.wsUrl };
    for (const nodeId of ['ingest-a', 'ingest-b']) {
      const n = await startIngest({ ...common, nodeId });
      nodes.push(n);
      await n.app.ready;
    }
  }, 60_000);
  afterAll(async () => {
    for (const n of nodes.reverse()) await n.stop();
    await sim?.close();
    if (redis) await deletePrefix(redis, prefix);
    redis?.disconnect();
  }, 30_000);

  it("the leader's and the standby's dials both land in the cluster's one window", async () => {
    const keys = leaseKeys(prefix);
    // Each node names its attempts `<its id>:<n>`: two ids, one per node.
    const dialers = async () => new Set((await redis.zrange(keys.connectAttempts, 0, -1)).map((m) => m.split(':')[0])).size;
    await expect.poll(dialers).toBe(2);
    expect(nodes.map((n) => n.app.shards.stats().length)).toEqual([1, 1]);
  });
});
