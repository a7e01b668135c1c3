import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { type Candle, ClusterClient, expectContiguous, expectTrueCandles, liveAfter, sleep } from '../../helpers/cluster-client.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * No leader for longer than a heal's tail (10 bars): the only ingest node is killed and another starts
 * 15 bars later (a rolling restart, a standby still starting). Its heal wrote the last 10 bars of its
 * window, so the bars between Redis's newest and them were never written (a chaos run: 7–13 closed
 * bars of a 1s series missing, for good, while every offset followed the one before). Child processes,
 * a redis-server of the test's own, the simulator at one minute a second.
 */
const redisUp = await hasRedisServer('cluster: no leader for longer than the heal tail (child processes)');

describe.runIf(redisUp)('cluster: no leader for longer than the heal tail (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  let env: Record<string, string>;
  const nodes: NodeProcess[] = [];
  let client: ClusterClient;
  const truth = (from: number, to: number): Candle[] => sim.truth('BTCUSDT', '1m', from, to).map((b) => ({ time: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, is_closed: true }));

  beforeAll(async () => {
    redis = await RedisProcess.start({ aof: false });
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 });
    env = { REDIS_URL: redis.url, SYMBOLS: 'BTCUSDT', INTERVALS: '1m', BUFFER_SIZE: '200', HISTORY_ON_CONNECT: '100', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SERIES_DIR: '', LEASE_TTL_MS: '1500' };
    nodes.push(await NodeProcess.start('ingest-a', { ...env, ROLE: 'ingest' }), await NodeProcess.start('edge-1', { ...env, ROLE: 'edge' }));
    await Promise.all(nodes.map((n) => n.until((h) => h.status === 'ok', 60_000, 'ready')));
    client = new ClusterClient(() => [nodes[1]!.ws], '/ws/BTCUSDT?interval=1m');
    await liveAfter([client], 5, 30_000);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it("the next leader writes every bar since Redis's newest: Redis's bars, and a streaming client's, equal the exchange's (reproduced: a hole of the gap's length less 10)", async () => {
    nodes[0]!.signal('SIGKILL');
    await sleep(15_000); // 15 bars without a leader
    const next = await NodeProcess.start('ingest-b', { ...env, ROLE: 'ingest' });
    nodes.push(next);
    await next.until((h) => h.leader === true, 60_000, 'leads');
    await liveAfter([client], 10, 30_000);
    // What Redis holds (any new client's history), over the whole window.
    const res = await request(`${nodes[1]!.url}/candles/BTCUSDT/1m?limit=200`);
    const stored = ((await res.body.json()) as { candles: Candle[] }).candles.filter((c) => c.is_closed);
    expect(stored.length).toBeGreaterThan(100);
    expect(stored).toEqual(truth(stored[0]!.time, stored.at(-1)!.time));
    // The client that streamed through it: no hole, no duplicate, every closed candle true.
    expectContiguous(client);
    expect(client.reconnects).toBe(0);
    await expectTrueCandles(client, truth);
  }, 120_000);
});
