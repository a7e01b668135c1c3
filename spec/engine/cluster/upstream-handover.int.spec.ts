import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * The leader's own connection to the exchange is cut (its route, not the exchange): it hands the lead
 * to the standby whose connection is live, and clients get updates again. Before, it kept the lease
 * while a healthy standby sat idle, and clients got nothing for as long as its route was cut (53 s in
 * an attacker-style probe). In process: one simulator, two ingest nodes (the first through a proxy
 * that can cut it off), an edge, DB 15 under a prefix of the spec's own.
 */
const redisUp = await hasRedis('cluster: a leader cut off from the exchange hands over');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The same NODE_ID twice (an operator's copy-paste): both wrote one field of the hash, each took the
// other's `live` for its own, and the leader kept the lease with its upstream down (an operator's review).
describe.runIf(redisUp).each([['ingest-a', 'ingest-b'], ['ingest-x', 'ingest-x']])('cluster: a leader cut off from the exchange hands over (NODE_IDs %s, %s)', (idA, idB) => {
  let sim: SimExchange;
  let proxy: HoleProxy;
  let redis: Redis;
  let a: IngestNode;
  let b: IngestNode;
  let edge: EdgeNode;
  let client: EngineClient;
  const prefix = `spec-handover-${process.pid}-${Date.now()}:`;

  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    proxy = await HoleProxy.start(Number(new URL(sim.wsUrl).port));
    redis = new Redis(REDIS_URL);
    const common = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, port: 0, host: '127.0.0.1', clientDir: '', seriesDir: '', log: silentLogger, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 50, leaseTtlMs: 1500, upstreamHandoverMs: 2000, staleAfterMs: 2000 };
    const exchange = { source: 'binance' as const, restUrl: sim.restUrl };
    a = await startIngest({ ...common, ...exchange, nodeId: idA, wsUrl: sim.wsUrl.replace(/:\d+/, `:${proxy.port}`) });
    await a.app.ready;
    for (const deadline = Date.now() + 10_000; !a.lease.state.leader; await sleep(50)) if (Date.now() > deadline) throw new Error('a does not lead');
    b = await startIngest({ ...common, ...exchange, nodeId: idB, wsUrl: sim.wsUrl });
    await b.app.ready;
    edge = await startEdge({ ...common, nodeId: 'edge-1' });
    client = new EngineClient(`${edge.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    await client.until((c) => c.live().length > 3, 20_000, 'live candles');
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await edge?.stop();
    await b?.stop();
    await a?.stop();
    await proxy?.close();
    await sim?.close();
    if (redis) await deletePrefix(redis, prefix);
    redis?.disconnect();
  }, 30_000);

  it("hands over to the node whose upstream is live; the edge's clients get updates again", async () => {
    expect(b.lease.state.leader).toBe(false);
    proxy.cut();
    const cutAt = Date.now();
    for (const deadline = cutAt + 15_000; !b.lease.state.leader; await sleep(50)) if (Date.now() > deadline) throw new Error('b does not lead');
    expect(a.lease.state.leader).toBe(false);
    expect(a.lease.lastStepDown).toMatch(/handing over/);
    // Said in /metrics too, for alerts (was /health alone).
    expect(a.app.metrics.render()).toMatch(/^engine_cluster_step_downs 1$/m);
    expect(b.app.metrics.render()).toMatch(/^engine_cluster_step_downs 0$/m);
    expect(b.app.metrics.render()).toMatch(new RegExp(`^engine_cluster_term ${b.lease.state.term}$`, 'm'));
    expect(b.lease.state.term).toBeGreaterThan(1);
    const seen = client.live().length;
    await client.until((c) => c.live().length > seen + 3, 10_000, 'live candles after the hand-over');
    // Handed over once the leader's upstream was down for UPSTREAM_HANDOVER_MS, not at once.
    expect(Date.now() - cutAt).toBeGreaterThan(2000);
    proxy.open();
  }, 40_000);
});
