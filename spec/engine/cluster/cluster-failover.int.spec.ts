import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { type Candle, ClusterClient, expectContiguous, expectExactlyMissed, expectTrueCandles, liveAfter as advance, sleep } from '../../helpers/cluster-client.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * Issue 13's failure tests: a real redis-server of the test's own, the simulator, two ingest nodes and
 * two edges as child processes, 100 clients (50 on each edge) recording everything they receive.
 * The clients are set up once and stream through every test in turn.
 */
const CLIENTS = 100;

const redisUp = await hasRedisServer('cluster on Redis: failover, fencing, edges, pub/sub loss (child processes)');

describe.runIf(redisUp)('cluster on Redis: failover, fencing, edges, pub/sub loss (child processes)', () => {
  let redis: RedisProcess;
  let r: Redis;
  let sim: SimExchange;
  let ingest: NodeProcess[] = [];
  let edges: NodeProcess[] = [];
  let env: Record<string, string>;
  const clients: ClusterClient[] = [];
  const edgeUrls = () => edges.filter((e) => !e.exited).map((e) => e.ws);
  const keys = leaseKeys();
  /** The ingest node the lease names (its token is `NODE_ID:random`), read from Redis: no child's /health in the way. */
  const leader = async () => {
    const token = await r.get(keys.lease);
    return ingest.find((n) => token?.startsWith(`${n.name}:`));
  };
  const truth = (from: number, to: number): Candle[] => sim.truth('BTCUSDT', '1m', from, to).map((b) => ({ time: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, is_closed: true }));
  const liveAfter = (n: number, timeoutMs = 15_000) => advance(clients, n, timeoutMs);
  const onEdge = (e: NodeProcess) => clients.filter((c) => c.ws.url.includes(`:${e.port}/`));

  beforeAll(async () => {
    redis = await RedisProcess.start({ aof: true });
    r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    // One simulated minute per real second: candles close every second.
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100, clockSpeed: 60 });
    env = { REDIS_URL: redis.url, SYMBOLS: 'BTCUSDT,ETHUSDT', INTERVALS: '1m', BUFFER_SIZE: '200', HISTORY_ON_CONNECT: '100', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SERIES_DIR: '', LEASE_TTL_MS: '1500' };
    ingest = await Promise.all(['ingest-a', 'ingest-b'].map((n) => NodeProcess.start(n, { ...env, ROLE: 'ingest' })));
    edges = await Promise.all(['edge-1', 'edge-2'].map((n) => NodeProcess.start(n, { ...env, ROLE: 'edge' })));
    await Promise.all(ingest.map((n) => n.until((h) => h.status === 'ok', 60_000, 'ingest ready')));
    await Promise.all(edges.map((n) => n.until((h) => h.status === 'ok', 60_000, 'edge ready')));
    for (let i = 0; i < CLIENTS; i++) clients.push(new ClusterClient(edgeUrls, '/ws/BTCUSDT?interval=1m', i));
    await liveAfter(5, 30_000);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([...ingest, ...edges].map((n) => n.stop()));
    await sim?.close();
    r?.disconnect();
    await redis?.stop();
  }, 60_000);

  it('SIGKILL the leader while 100 clients stream on two edges: the standby leads within 5 s; no hole, no duplicate, same epoch, closed candles true', async () => {
    expect(edges.map((e) => onEdge(e).length)).toEqual([CLIENTS / 2, CLIENTS / 2]);
    const old = (await leader())!;
    expect(old).toBeDefined();
    const term = Number(await r.get(keys.term));
    const epoch = clients[0]!.epoch;
    old.signal('SIGKILL');
    const killedAt = Date.now();
    const standby = ingest.find((n) => n !== old)!;
    // Timed on the lease in Redis, read by the test every 20 ms: timed through the children's /health
    // (each ask up to 2 s, with 4 nodes and 100 clients on 2 cores) it measured the machine's load.
    let ledAfter = Infinity;
    for (const giveUp = killedAt + 30_000; Date.now() < giveUp; await sleep(20)) {
      if ((await leader()) === standby) {
        ledAfter = Date.now() - killedAt;
        break;
      }
    }
    expect(ledAfter, `ms from the kill until the lease named ${standby.name}`).toBeLessThan(5000);
    await standby.until((h) => h.leader === true, 30_000, 'standby says it leads');
    await liveAfter(10);
    // One new term, still the standby's: it took the lease once and kept it (no flapping).
    expect(Number(await r.get(keys.term))).toBe(term + 1);
    expect((await leader())?.name).toBe(standby.name);
    for (const c of clients) {
      expectContiguous(c);
      expect(c.epoch).toBe(epoch);
      expect(c.reconnects).toBe(0);
      await expectTrueCandles(c, truth);
    }
    // A new standby for the next tests.
    ingest = [standby, await NodeProcess.start('ingest-c', { ...env, ROLE: 'ingest' })];
    await ingest[1]!.until((h) => h.status === 'ok' && h.leader === false, 60_000, 'new standby');
  }, 90_000);

  it('kill an edge: its clients resume on the other with recovered and exactly the missed updates', async () => {
    const victim = edges[0]!;
    const moved = onEdge(victim);
    const witness = onEdge(edges[1]!)[0]!;
    expect(moved.length).toBe(CLIENTS / 2);
    victim.signal('SIGKILL');
    await liveAfter(5);
    for (const c of moved) {
      const i = c.messages.findIndex((m) => m.type === 'recovered');
      expect(i, 'a recovered message').toBeGreaterThan(0);
      expectContiguous(c);
      expectExactlyMissed(c, witness);
      await expectTrueCandles(c, truth);
    }
  }, 60_000);

  it('CLIENT KILL TYPE pubsub: the edge repairs what it missed; clients see no hole', async () => {
    const before = (await edges[1]!.readHealth()).repairs as number;
    for (let i = 0; i < 3; i++) {
      await r.client('KILL', 'TYPE', 'pubsub');
      await sleep(300);
    }
    await liveAfter(5);
    const after = (await edges[1]!.readHealth()).repairs as number;
    expect(after).toBeGreaterThan(before);
    for (const c of clients) expectContiguous(c);
  }, 60_000);

  // Which comes first after SIGCONT, a write (refused by the script: fenced) or the overdue renewal
  // (refused: another token), is up to the event loop; either way it steps down and writes nothing.
  // The fenced write itself is pinned down in fenced-writer.int.spec.ts.
  it('SIGSTOP the leader past its lease, then SIGCONT: it is refused (fenced write or renewal) and steps down; clients see nothing of it', async () => {
    const stale = (await leader())!;
    const other = ingest.find((n) => n !== stale)!;
    stale.signal('SIGSTOP');
    // How soon is the first test's (5 s); here a loaded machine's child processes may take longer.
    await other.until((h) => h.leader === true, 15_000, 'the standby leads');
    await liveAfter(3);
    stale.signal('SIGCONT');
    // A process just resumed works through what piled up while stopped before /health answers.
    const h = await stale.until((x) => x.leader === false, 15_000, 'stale leader steps down');
    expect(h.stepDowns).toBe(1);
    // Refused, or its own watchdog first (no renewal answered before the lease could have expired).
    expect(String(h.lastStepDown)).toMatch(/fenced|held by another node|did not answer a renewal/);
    await liveAfter(3);
    for (const c of clients) expectContiguous(c);
  }, 90_000);

  it.each([
    ['with its data (AOF)', true],
    ['without its data', false],
  ])('Redis restarted %s: a new epoch and a fresh snapshot, never a reused offset under the old epoch', async (_what, keep) => {
    const epochs = new Set(clients.map((c) => c.epoch));
    if (!keep) await r.flushall(); // the same as restarting without persistence
    await redis.restart();
    await liveAfter(5, 30_000);
    for (const c of clients) {
      expect(epochs.has(c.epoch)).toBe(false);
      expectContiguous(c);
      // The change of epoch came as a historical (recovered:false), not as live messages.
      const i = c.messages.findIndex((m) => m.epoch === c.epoch);
      expect(c.messages[i]!.type).toBe('historical');
    }
  }, 60_000);
});
