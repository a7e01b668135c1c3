import { Redis } from 'ioredis';
import { type SimExchange, startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { NodeProcess } from './cluster-nodes.ts';
import { RedisProcess } from './redis-process.ts';

/**
 * A cluster for on-demand specs, as child processes: a redis-server of the spec's own, the simulator
 * (one simulated minute per real second) trading `symbols`, one ingest node that leads and two edges
 * holding the leader's markets. BTCUSDT:1m is configured; the other symbols are cold. `env` is what
 * every node got (`extra` added), for nodes a spec starts later; `nodes` are stopped by `stop`.
 */
export async function startDemandCluster(symbols: string[], extra: Record<string, string> = {}) {
  const redis = await RedisProcess.start({ aof: false });
  const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  const sim: SimExchange = await startSimExchange({ symbols, pushIntervalMs: 100, clockSpeed: 60 });
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    SYMBOLS: 'BTCUSDT',
    INTERVALS: '1m',
    BUFFER_SIZE: '200',
    HISTORY_ON_CONNECT: '100',
    SOURCE: 'binance',
    BINANCE_REST_URL: sim.restUrl,
    BINANCE_WS_URL: sim.wsUrl,
    SERIES_DIR: '',
    LEASE_TTL_MS: '1500',
    ...extra,
  };
  const nodes: NodeProcess[] = [];
  const ingest = await NodeProcess.start('ingest-a', { ...env, ROLE: 'ingest' });
  nodes.push(ingest);
  await ingest.until((h) => h.status === 'ok' && h.leader === true, 60_000, 'ingest leads');
  const edges = await Promise.all(['edge-1', 'edge-2'].map((n) => NodeProcess.start(n, { ...env, ROLE: 'edge' })));
  nodes.push(...edges);
  // Ready, and holding the leader's markets (the edge validates symbols against them).
  await Promise.all(edges.map((n) => n.until((h) => h.status === 'ok' && h.markets === symbols.length, 60_000, 'edge ready with markets')));
  return {
    redis,
    r,
    sim,
    env,
    ingest,
    edges,
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await sim.close();
      r.disconnect();
      await redis.stop();
    },
  };
}
