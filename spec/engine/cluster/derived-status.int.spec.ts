import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * A derived series that fails on the leader: an edge's clients learn it as ROLE=all's do (the
 * historical's seriesStatus, with the operator's error), though the edge never runs the operator.
 * Own redis-server, the simulator, one ingest node and one edge as child processes.
 */
const redisUp = await hasRedisServer('a failed derived series in the cluster (child processes)');

describe.runIf(redisUp)('a failed derived series in the cluster (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  let nodes: NodeProcess[] = [];
  let client: EngineClient | undefined;
  let second: EngineClient | undefined;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 });
    const env = { REDIS_URL: redis.url, SYMBOLS: 'BTCUSDT', INTERVALS: '1m', BUFFER_SIZE: '100', HISTORY_ON_CONNECT: '50', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SERIES_DIR: 'spec/fixtures/series-faulty', LEASE_TTL_MS: '1500' };
    nodes = [await NodeProcess.start('ingest-a', { ...env, ROLE: 'ingest' })];
    await nodes[0]!.until((h) => h.status === 'ok' && h.leader === true, 90_000, 'ingest leads');
    nodes.push(await NodeProcess.start('edge-1', { ...env, ROLE: 'edge' }));
    await nodes[1]!.until((h) => h.status === 'ok', 90_000, 'edge ready');
  }, 150_000);

  afterAll(async () => {
    client?.close();
    second?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it("the edge's client gets seriesStatus failed with the leader's error", async () => {
    client = new EngineClient(`${nodes[1]!.ws}/ws/BTCUSDT?interval=1m&series=boom`);
    await client.until((c) => c.historical() !== undefined, 60_000, 'historical');
    const h = client.historical() as unknown as { seriesStatus?: Record<string, { state: string; error: string }>; series?: Record<string, unknown[]> };
    expect(h.seriesStatus?.boom?.state).toBe('failed');
    expect(h.seriesStatus?.boom?.error).toMatch(/^boom at \d+$/);
    expect(h.series?.boom).toEqual([]);
    // A second client of the same instance on this edge learns it too (the instance is shared, not asked afresh).
    second = new EngineClient(`${nodes[1]!.ws}/ws/BTCUSDT?interval=1m&series=boom`);
    await second.until((c) => c.historical() !== undefined, 30_000, 'second historical');
    expect((second.historical() as unknown as { seriesStatus?: Record<string, { state: string }> }).seriesStatus?.boom?.state).toBe('failed');
    // Computed on the leader, not here.
    expect((await nodes[1]!.readHealth()).derived).toMatchObject({ followed: 1 });
    expect((await nodes[0]!.readHealth()).derived).toMatchObject({ held: 1 });
  }, 90_000);
});
