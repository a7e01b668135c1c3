/**
 * Probe (not a bench scenario): the universe scenario's engine at a chosen size, for finding where its
 * memory goes. N symbols × 6 intervals (1,000 bars each, prefilled in Redis) against the simulator,
 * then every minute: RSS by mapping kind (/proc smaps), process.memoryUsage() and V8 heap spaces after
 * a GC. SNAPS=1 writes heap snapshots to /tmp at +15 s and at the end (they inflate the RSS that
 * follows). `N=300 MINUTES=3 npx tsx bench/probes/um-probe.ts`; BASE=1 runs the one-series engine;
 * NODE_ARGS passes node flags to the engine. Keep the machine otherwise quiet: it shares Redis.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { bucketOpen, intervalMs } from '../../engine/src/domain/interval.ts';
import { candlesKey, seriesId } from '../../engine/src/domain/series-id.ts';
import { Child } from '../lib/ipc.ts';
import { procSample, rssByMapping } from '../lib/proc-stats.ts';
import { dropPrefix, PREFILL_LUA } from '../scenarios/universe.ts';

const N = Number(process.env.N ?? 300);
const MINUTES = Number(process.env.MINUTES ?? 3);
const SNAPS = process.env.SNAPS === '1';
const BASE = process.env.BASE === '1';
const NODE_ARGS = (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean);
const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];
const REDIS_URL = 'redis://127.0.0.1:6379/15';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (n: number) => (n / 2 ** 20).toFixed(1);

const sim = Child.fork('sim', fileURLToPath(new URL('../scenarios/universe-sim-child.ts', import.meta.url)), { config: { universeSize: N, seed: 7, pushIntervalMs: 2000 } });
const ready = (await sim.ready) as unknown as { restUrl: string; wsUrl: string; symbols: string[] };
const prefix = `probe:um:${process.pid}:`;
const redis = new Redis(REDIS_URL);
const now = Date.now();
let pipe = redis.pipeline();
let n = 0;
for (const s of ready.symbols) for (const iv of INTERVALS) {
  const step = intervalMs(iv);
  void pipe.eval(PREFILL_LUA, 1, candlesKey(seriesId(s, iv), prefix), bucketOpen(now, iv) - 1000 * step, step, 1000, 1 + (n++ % 997));
  if (n % 100 === 0) { await pipe.exec(); pipe = redis.pipeline(); }
}
await pipe.exec();
console.log(`prefilled ${n} series`);
const cfg = { restUrl: ready.restUrl, wsUrl: ready.wsUrl, bufferSize: 1000, historyOnConnect: 720, restWeightBudget: 6000, redisUrl: REDIS_URL, redisKeyPrefix: prefix, maxBackpressureBytes: 1 << 20,
  symbols: BASE ? [ready.symbols[0]] : ['*'], intervals: BASE ? ['1m'] : INTERVALS };
const eng = Child.fork('engine', fileURLToPath(new URL('./um-engine.ts', import.meta.url)), { config: cfg, nodeArgs: ['--expose-gc', ...NODE_ARGS], readyTimeoutMs: 30 * 60_000 });
const r = await eng.ready;
console.log(`engine ready in ${(Number(r.bootstrapMs) / 1000).toFixed(0)} s`);
const report = async (label: string) => {
  const x = await eng.request<{ mem: NodeJS.MemoryUsage; spaces: Record<string, { size: number; used: number; phys: number }>; storeBars: number; storeBytes: number; frames: number }>('mem');
  const rss = procSample(eng.pid)!.rssBytes;
  const sp = Object.entries(x.spaces).filter(([, s]) => s.size > 0).map(([k, s]) => `${k.replace('_space', '')} ${MiB(s.used)}/${MiB(s.size)}`).join(', ');
  console.log(`${label}: smaps ${rssByMapping(eng.pid)}\n   rss(proc) ${MiB(rss)} heapUsed ${MiB(x.mem.heapUsed)} heapTotal ${MiB(x.mem.heapTotal)} external ${MiB(x.mem.external)} arrayBuffers ${MiB(x.mem.arrayBuffers)} bars ${x.storeBars} storeBytes ${MiB(x.storeBytes)} frames ${x.frames}\n   ${sp}`);
};
try {
  await sleep(15_000);
  await report('t+15s');
  if (SNAPS) console.log(await eng.request('snap', { path: `/tmp/um-${N}-a.heapsnapshot` }, 600_000));
  for (let m = 1; m <= MINUTES; m++) {
    await sleep(60_000);
    await report(`t+${m}m15s`);
  }
  if (SNAPS) console.log(await eng.request('snap', { path: `/tmp/um-${N}-b.heapsnapshot` }, 600_000));
} finally {
  await eng.stop(20_000);
  await sim.stop(10_000);
  redis.disconnect();
  await dropPrefix(prefix);
}
