/**
 * The whole exchange through a cluster (issue 13 with SYMBOLS=*): the simulator's `n` trading symbols
 * × 1m, a private redis-server, one ingest node and one edge, both `SYMBOLS=*`. From the ingest
 * node's start: when it leads and reports ready (REST bootstrap of every series, and every window
 * written into Redis), and when the edge, started once the ingest node leads, is ready; then Redis's
 * memory and each node's RSS, and one cold client's first `historical` on the edge.
 *
 *   npx tsx bench/micro/universe-edge.ts [n=1500]
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { procSample } from '../lib/proc-stats.ts';
import { NodeProcess } from '../../spec/helpers/cluster-nodes.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';

const n = Number(process.argv[2] ?? 1500);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;

const sim = await startSimExchange({ universeSize: n });
const redis = await RedisProcess.start();
const info = new Redis(redis.url, { maxRetriesPerRequest: 1 });
const nodes: NodeProcess[] = [];
try {
  const base = { SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SYMBOLS: '*', INTERVALS: '1m', SERIES_DIR: '', LOG_LEVEL: 'warn', REDIS_URL: redis.url };
  const t0 = performance.now();
  const ingest = await NodeProcess.start('ingest', { ...base, ROLE: 'ingest' });
  nodes.push(ingest);
  await ingest.until((h) => h.leader === true, 600_000, 'ingest leads');
  const leads = performance.now() - t0;
  const edge = await NodeProcess.start('edge', { ...base, ROLE: 'edge' });
  nodes.push(edge);
  const edgeStart = performance.now();
  const [readyIngest, readyEdge] = await Promise.all(
    [ingest, edge].map(async (node) => {
      await node.until((h) => h.status === 'ok', 600_000, `${node.name} ready`);
      return performance.now();
    }),
  );
  const memory = Number(/used_memory:(\d+)/.exec(await info.info('memory'))?.[1]);
  const keys = await info.dbsize();
  console.log(`${n} symbols × 1m: ingest leads after ${(leads / 1000).toFixed(1)} s, ready after ${((readyIngest! - t0) / 1000).toFixed(1)} s; edge ready ${((readyEdge! - edgeStart) / 1000).toFixed(1)} s after its start`);
  const [i, e, r] = [ingest.pid, edge.pid, redis.pid!].map((pid) => procSample(pid)!);
  console.log(`  redis ${mb(memory)} in ${keys} keys; RSS ingest ${mb(i!.rssBytes)}, edge ${mb(e!.rssBytes)}; CPU so far ingest ${i!.cpuS.toFixed(1)} s, edge ${e!.cpuS.toFixed(1)} s, redis ${r!.cpuS.toFixed(1)} s`);
  const t1 = performance.now();
  const ws = new WebSocket(`${edge.ws}/ws/${sim.symbols[n - 1]}?interval=1m`);
  const first = await new Promise<{ type: string; data?: unknown[] }>((resolve, reject) => {
    ws.on('message', (m) => resolve(JSON.parse(String(m)) as { type: string; data?: unknown[] }));
    ws.on('error', reject);
  });
  console.log(`  a client on the edge: first message ${first.type} with ${first.data?.length ?? 0} bars after ${(performance.now() - t1).toFixed(1)} ms`);
  ws.terminate();
} finally {
  info.disconnect();
  await Promise.all(nodes.map((x) => x.stop()));
  await redis.stop();
  await sim.close();
}
