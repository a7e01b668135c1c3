import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * An edge of a new cluster is not ready until a leader has written its series: before, it has no
 * history to serve (reproduced in the cluster bench: a client of a just-started cluster got a
 * `historical` of 0 bars, the leader still writing the REST history). Own redis-server, the
 * simulator, an edge started alone, then an ingest node, as child processes.
 */
const HISTORY = 50;

/** The first message a new client of `node` gets (the snapshot). */
function firstMessage(node: NodeProcess, symbol: string): Promise<{ type: string; data: unknown[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${node.ws}/ws/${symbol}?interval=1m`);
    ws.once('message', (d: Buffer) => {
      resolve(JSON.parse(d.toString()) as { type: string; data: unknown[] });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

const redisUp = await hasRedisServer('edge readiness on a new cluster (child processes)');

describe.runIf(redisUp)('edge readiness on a new cluster (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  let edge: NodeProcess;
  let ingest: NodeProcess | undefined;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 200 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([edge, ingest].filter(Boolean).map((n) => n!.stop()));
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it('says why it is not ready while no leader has written, then serves the whole history once one has', async () => {
    const env = { SYMBOLS: 'BTCUSDT,ETHUSDT', INTERVALS: '1m', HISTORY_ON_CONNECT: String(HISTORY), SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, REDIS_URL: redis.url, SERIES_DIR: '' };
    edge = await NodeProcess.start('edge', { ...env, ROLE: 'edge' });
    const waiting = await edge.until((h) => Array.isArray(h.notReady) && (h.notReady as string[]).some((m) => m.startsWith('waiting for a leader to write')), 60_000, 'edge loaded, waiting');
    expect(waiting.status).toBe('degraded');
    // Named, so an ingest node configured without them is found from /health.
    expect(waiting.notReady).toContain("waiting for a leader to write BTCUSDT:1m, ETHUSDT:1m (the ingest nodes' SYMBOLS and INTERVALS must include them)");
    // Still not ready a moment later: nothing has written the series.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await edge.readHealth()).status).toBe('degraded');

    ingest = await NodeProcess.start('ingest', { ...env, ROLE: 'ingest', LEASE_TTL_MS: '1500' });
    await edge.until((h) => h.status === 'ok', 90_000, 'edge ready once the leader wrote');
    for (const symbol of ['BTCUSDT', 'ETHUSDT']) {
      const snap = await firstMessage(edge, symbol);
      expect(snap.type).toBe('historical');
      expect(snap.data.length).toBe(HISTORY);
    }
  }, 150_000);
});
