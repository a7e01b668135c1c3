/**
 * CPU per bar update of every process of a cluster at a fixed rate, beside ROLE=all on the same
 * upstream: the bench's simulator and pacing relay (`rate` updates/s per stream, 20 streams), a
 * private redis-server, ROLE=all, one ingest node (the leader) and one edge, `clients` WebSocket
 * clients per symbol on ROLE=all and on the edge (in this process). After 5 s of warm-up, for
 * `seconds`: each process's CPU (/proc) per update delivered, the leader's script calls per second
 * with the updates each carried, and the write scripts' time in Redis per update (commandstats).
 *
 *   npx tsx bench/micro/cluster-cost.ts [rate=250] [clients=2] [seconds=20]
 *   PROFILE=ingest|edge|all … writes that node's V8 CPU profile to bench/results/profiles/cluster-cost/
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { Upstream } from '../lib/upstream.ts';
import { procSample } from '../lib/proc-stats.ts';
import { BENCH_SYMBOLS } from '../lib/symbols.ts';
import { nodeEnv } from '../scenarios/cluster.ts';
import { NodeProcess } from '../../spec/helpers/cluster-nodes.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';

const rate = Number(process.argv[2] ?? 250);
const perSymbol = Number(process.argv[3] ?? 2);
const seconds = Number(process.argv[4] ?? 20);
const profile = process.env.PROFILE;
const symbols = BENCH_SYMBOLS.slice(0, 20);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redis = await RedisProcess.start();
const upstream = await Upstream.start({ symbols: BENCH_SYMBOLS, seed: 42, pushIntervalMs: 250 });
const base = nodeEnv(symbols, upstream.restUrl, upstream.wsUrl);
const env = (name: string, e: Record<string, string>) => (profile === name ? { ...e, NODE_ARGS: '--cpu-prof --cpu-prof-dir=bench/results/profiles/cluster-cost' } : e);
const nodes: NodeProcess[] = [];
const sockets: WebSocket[] = [];
const info = new Redis(redis.url, { maxRetriesPerRequest: 1 });
try {
  const all = await NodeProcess.start('all', env('all', { ...base, ROLE: 'all' }));
  nodes.push(all);
  const ingest = await NodeProcess.start('ingest', env('ingest', { ...base, REDIS_URL: redis.url, ROLE: 'ingest' }));
  nodes.push(ingest);
  const edge = await NodeProcess.start('edge', env('edge', { ...base, REDIS_URL: redis.url, ROLE: 'edge' }));
  nodes.push(edge);
  for (const n of nodes) await n.until((h) => h.status === 'ok', 180_000, `${n.name} ready`);
  const received = { all: 0, edge: 0 };
  for (const [side, n] of [['all', all], ['edge', edge]] as const)
    for (let k = 0; k < perSymbol; k++)
      for (const s of symbols) {
        const ws = new WebSocket(`${n.ws}/ws/${s}?interval=1m`);
        ws.on('message', () => received[side]++);
        sockets.push(ws);
      }
  await upstream.setRate(rate);
  await sleep(5000);
  const calls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await info.info('commandstats'))?.[1] ?? 0);
  // The write scripts' time in Redis counts from here (read after the window).
  await info.config('RESETSTAT');
  const pids = { 'ROLE=all': all.pid, ingest: ingest.pid, edge: edge.pid, redis: redis.pid! };
  const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procSample(p)?.cpuS ?? NaN]));
  const sys = () => Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procSample(p)?.sysS ?? NaN]));
  const [cpu0, sys0, calls0, got0, t0] = [cpu(), sys(), await calls(), { ...received }, performance.now()];
  await sleep(seconds * 1000);
  const [cpu1, sys1, calls1, t1] = [cpu(), sys(), await calls(), performance.now()];
  const dt = (t1 - t0) / 1000;
  const updates = { all: (received.all - got0.all) / perSymbol, edge: (received.edge - got0.edge) / perSymbol };
  console.log(`${rate}/s per stream × 20 streams, ${perSymbol} clients per symbol on each side, ${seconds} s: updates/s via ROLE=all ${(updates.all / dt).toFixed(0)}, via the edge ${(updates.edge / dt).toFixed(0)}; leader's script calls ${((calls1 - calls0) / dt).toFixed(0)}/s, ${(updates.edge / (calls1 - calls0)).toFixed(1)} updates each`);
  // The write scripts' time includes the commands they run (Redis 7 also counts those under their own names).
  const scriptUs = Number(/^cmdstat_evalsha:calls=\d+,usec=(\d+)/m.exec(await info.info('commandstats'))?.[1] ?? NaN);
  console.log(`  Redis's write scripts ${(scriptUs / updates.edge).toFixed(1)} µs per update (commandstats: wall time in Redis)`);
  for (const k of Object.keys(pids)) {
    const used = cpu1[k]! - cpu0[k]!;
    const n = k === 'ROLE=all' ? updates.all : updates.edge;
    console.log(`  ${k.padEnd(9)} ${((used / dt) * 100).toFixed(1).padStart(5)} % of a core, ${((used * 1e6) / n).toFixed(1).padStart(6)} µs per update (${(((sys1[k]! - sys0[k]!) * 1e6) / n).toFixed(1)} of it in the kernel)`);
  }
} finally {
  for (const w of sockets) w.terminate();
  info.disconnect();
  await Promise.all(nodes.map((n) => n.stop()));
  await upstream.stop();
  await redis.stop();
}
