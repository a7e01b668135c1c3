/**
 * An on-demand symbol's first `historical` through an edge against ROLE=all, one cold symbol at a
 * time (issue 13, part 6): the simulator, a private redis-server, ROLE=all, one ingest node (the
 * leader) and one edge; `n` cold symbols alternate between the two sides, 300 ms apart, timed from
 * the WebSocket's open to its first message that is not `loading`. Then, on the edge only, `traced`
 * more with where the time went: a subscriber on the series' channel (the leader's window write) and
 * a 1 ms poll of its `served` key (the leader's answer).
 *
 *   npx tsx bench/micro/cold-edge.ts [n=40] [traced=12]
 */
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { NodeProcess } from '../../spec/helpers/cluster-nodes.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';
import { startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { leaseKeys } from '../../engine/src/cluster/cluster-keys.ts';

const n = Number(process.argv[2] ?? 40);
const traced = Number(process.argv[3] ?? 12);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const sim = await startSimExchange({ universeSize: 300 });
const redis = await RedisProcess.start();
const base = { SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SYMBOLS: 'BTCUSDT', INTERVALS: '1m', SERIES_DIR: '', LOG_LEVEL: 'warn', MAX_CONNECTIONS_PER_ADDRESS: '0', MAX_CLIENTS: '0', MAX_CONNECTS_PER_SECOND: '0' };
const nodes = [
  await NodeProcess.start('all', { ...base, ROLE: 'all' }),
  await NodeProcess.start('ingest', { ...base, ROLE: 'ingest', REDIS_URL: redis.url }),
  await NodeProcess.start('edge', { ...base, ROLE: 'edge', REDIS_URL: redis.url }),
];
const [all, , edge] = nodes as [NodeProcess, NodeProcess, NodeProcess];
const sub = new Redis(redis.url);
const poll = new Redis(redis.url);
try {
  for (const node of nodes) await node.until((h) => h.status === 'ok', 120_000, node.name);
  await sleep(2000);
  /** ms from the open to the first message that is not `loading`. */
  const first = (url: string) =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const ws = new WebSocket(url);
      ws.on('message', (d: Buffer) => {
        if ((JSON.parse(d.toString()) as { type: string }).type === 'loading') return;
        resolve(performance.now() - t0);
        ws.close();
      });
      ws.on('error', reject);
    });
  const info = (await (await fetch(`${sim.restUrl}/api/v3/exchangeInfo`)).json()) as { symbols: Array<{ symbol: string; status: string }> };
  const cold = info.symbols.filter((s) => s.status === 'TRADING' && s.symbol !== 'BTCUSDT').map((s) => s.symbol).slice(20, 20 + n + traced);
  const took: Record<'all' | 'edge', number[]> = { all: [], edge: [] };
  for (let i = 0; i < n; i++) {
    const side = i % 2 ? 'edge' : 'all';
    took[side].push(await first(`${(side === 'edge' ? edge : all).ws}/ws/${cold[i]}?interval=1m`));
    await sleep(300);
  }
  for (const side of ['all', 'edge'] as const) console.log(`${side.padEnd(4)} first historical p50 ${q(took[side], 0.5).toFixed(1)} ms, max ${Math.max(...took[side]).toFixed(1)} ms (${took[side].length} cold symbols)`);

  const served = leaseKeys().served;
  for (const sym of cold.slice(n)) {
    const channel = `ch:${sym}:1m`;
    let t0 = performance.now();
    const seen = { firstWrite: NaN, lastWrite: NaN, writes: 0, answered: NaN };
    await sub.subscribe(channel);
    sub.removeAllListeners('message');
    sub.on('message', () => {
      const t = performance.now() - t0;
      if (!seen.writes++) seen.firstWrite = t;
      seen.lastWrite = t;
    });
    let done = false;
    void (async () => {
      while (!done && Number.isNaN(seen.answered)) {
        if (await poll.get(served + `${sym}:1m`)) seen.answered = performance.now() - t0;
        await sleep(1);
      }
    })();
    t0 = performance.now();
    const ms = await first(`${edge.ws}/ws/${sym}?interval=1m`);
    await sleep(300);
    done = true;
    await sub.unsubscribe(channel);
    console.log(`edge ${sym}: window write ${seen.firstWrite.toFixed(1)}–${seen.lastWrite.toFixed(1)} ms (${seen.writes} updates), answered ${seen.answered.toFixed(1)} ms, first historical ${ms.toFixed(1)} ms`);
  }
} finally {
  sub.disconnect();
  poll.disconnect();
  await Promise.all(nodes.map((x) => x.stop()));
  await redis.stop();
  await sim.close();
}
