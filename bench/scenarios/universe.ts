import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { bucketOpen, intervalMs } from '../../engine/src/domain/interval.ts';
import { candlesKey, seriesId } from '../../engine/src/domain/series-id.ts';
import { sleep } from '../lib/clock.ts';
import { Child } from '../lib/ipc.ts';
import { cpuShare, procSample, rssByMapping, type ProcSample } from '../lib/proc-stats.ts';
import { ServerUnderTest } from '../lib/server-under-test.ts';
import { sig } from '../lib/stats.ts';
import type { BenchEnv, Row, ScenarioOutput } from './context.ts';
import type { UniverseSimConfig } from './universe-sim-child.ts';

const SIM = fileURLToPath(new URL('./universe-sim-child.ts', import.meta.url));
const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];
const BARS = 1000;
/** Binance's full REST weight per minute: the universe's bootstrap is paced by it. */
const WEIGHT_BUDGET = 6000;
/** The bench's Redis: the database the tests use, under a key prefix of this run (deleted after it). */
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

/**
 * Builds one series' history inside Redis (one script call per series instead of 2,000 arguments over
 * the wire): `n` closed bars from `first`, a random walk from `p`, members as the engine's store writes
 * them (`[openTime,o,h,l,c,v,closed]`, sorted set scored by open time).
 */
export const PREFILL_LUA = `
local first, step, n, p = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local args = {}
for k = 0, n - 1 do
  local t = first + k * step
  local o = p
  p = p * (1 + (math.random() - 0.5) / 50)
  args[#args + 1] = t
  args[#args + 1] = string.format('[%.0f,%.4f,%.4f,%.4f,%.4f,%.2f,1]', t, o, math.max(o, p) * 1.002, math.min(o, p) * 0.998, p, math.random() * 10000)
end
redis.call('ZADD', KEYS[1], unpack(args))
return n`;

/**
 * Writes `bars` closed bars before the current bucket of every series into Redis, as the engine's
 * store keeps them: the state of a restart with a warm store. What is measured is how the engine
 * holds and serves them, not their values.
 */
async function prefill(prefix: string, symbols: readonly string[], bars: number): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    const now = Date.now();
    let n = 0;
    let pipe = redis.pipeline();
    for (const symbol of symbols) {
      for (const iv of INTERVALS) {
        const step = intervalMs(iv);
        void pipe.eval(PREFILL_LUA, 1, candlesKey(seriesId(symbol, iv), prefix), bucketOpen(now, iv) - bars * step, step, bars, 1 + (n % 997));
        if (++n % 100 === 0) {
          await pipe.exec();
          pipe = redis.pipeline();
        }
      }
    }
    await pipe.exec();
    return n;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under `prefix` (UNLINK: Redis frees them in the background). */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
export interface UniverseRun {
  symbols: number;
  series: number;
  bootstrapMs: number;
  /** REST requests the simulator answered for the universe engine, and their weight. */
  restRequests: number;
  klinesRequests: number;
  restWeight: number;
  restRetries: number;
  storeBars: number;
  storeBytes: number;
  /** RSS of an engine serving one series from the same simulator (the fixed base). */
  baseRssBytes: number;
  /** RSS at steady state (after a GC, and the highest seen over the window). */
  rssBytes: number;
  rssMaxBytes: number;
  heapUsedBytes: number;
  /** V8 heap committed (used + free pages it keeps): what of the RSS is heap slack. */
  heapTotalBytes: number;
  arrayBuffersBytes: number;
  /** JS heap after a GC, growth over the steady window (per minute). */
  heapGrowthPerMinBytes: number;
  cpuShare: number;
  framesPerS: number;
  /** [seconds since start, RSS MiB, CPU share over the last sample] every 5 s through bootstrap and steady state. */
  trace: Array<[number, number, number]>;
}

/**
 * Issue 12: the whole universe in one engine process against the simulator in another, at Binance's
 * pace (every stream pushed every 2 s): SYMBOLS=* over 1,500 symbols × 1m,5m,15m,1h,4h,1d, 1,000 bars
 * each, with the Redis store. The history is in Redis already (a restart with a warm store: the
 * simulator computes every 4h and 1d candle from its minutes, ~1.5 s of CPU per symbol for 1,000 bars
 * of each interval, which would make the bench about the simulator), so the bootstrap restores each
 * series and asks REST for its missing tail: one klines request per series, the same weight as a cold
 * start, paced by the REST budget. Measures the bootstrap (minutes, REST weight), then at steady state
 * (no clients) RSS, bytes per stored bar beyond the same engine serving one series, and its CPU.
 */
/** After a GC, V8 gives freed pages back to the system from a background task: RSS is read this much later. */
const SETTLE_MS = 2000;

export async function universe(env: BenchEnv): Promise<ScenarioOutput> {
  const nSymbols = env.opts.quick ? 150 : 1500;
  const windowS = env.opts.quick ? 10 : 60;
  const cfg: UniverseSimConfig = { universeSize: nSymbols, seed: 7, pushIntervalMs: 2000 };
  const sim = Child.fork('universe-sim', SIM, { config: cfg, readyTimeoutMs: 60_000 });
  const ready = (await sim.ready) as unknown as { restUrl: string; wsUrl: string; symbols: string[] };
  const symbols = ready.symbols;
  const prefix = `bench:universe:${process.pid}:`;
  const common = { restUrl: ready.restUrl, wsUrl: ready.wsUrl, bufferSize: BARS, historyOnConnect: 720, restWeightBudget: WEIGHT_BUDGET, redisUrl: REDIS_URL, redisKeyPrefix: prefix };
  const simStats = () => sim.request<{ restRequests: number; klinesRequests: number }>('stats');
  try {
    const t0 = performance.now();
    const keys = await prefill(prefix, symbols, BARS);
    env.log(`  redis: ${keys} series × ${BARS} bars written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    // The fixed base: the same engine serving one series, after a GC.
    const base = await ServerUnderTest.start('engine', { ...common, symbols: [symbols[0]!], intervals: ['1m'] });
    let baseRssBytes: number;
    try {
      await sleep(3000);
      await base.memory(true);
      await sleep(SETTLE_MS);
      baseRssBytes = base.sample()!.rssBytes;
      env.log(`  base RSS by mapping (MiB): ${rssByMapping(base.pid)}`);
    } finally {
      await base.stop();
    }
    env.log(`  base: one series, RSS ${(baseRssBytes / 2 ** 20).toFixed(0)} MiB`);

    const before = await simStats();
    const trace: UniverseRun['trace'] = [];
    const started = performance.now();
    let pid = -1;
    let last: ProcSample | undefined;
    const tracer = setInterval(() => {
      const s = pid > 0 ? procSample(pid) : undefined;
      if (!s) return;
      trace.push([(s.at - started) / 1000, s.rssBytes / 2 ** 20, cpuShare(last, s)]);
      if (trace.length % 6 === 0) env.log(`  ${trace.at(-1)![0].toFixed(0)} s: RSS ${trace.at(-1)![1].toFixed(0)} MiB, CPU ${(trace.at(-1)![2] * 100).toFixed(0)}%`);
      last = s;
    }, 5000);
    try {
      const server = await ServerUnderTest.start('engine', {
        ...common,
        symbols: ['*'],
        intervals: INTERVALS,
        readyTimeoutMs: 30 * 60_000,
        onSpawn: (p) => (pid = p),
      });
      try {
        const after = await simStats();
        const c0 = await server.counters();
        env.log(`  bootstrapped ${c0.storeSeries} series (${c0.storeBars} bars) in ${(server.bootstrapMs / 60_000).toFixed(2)} min, ${after.klinesRequests - before.klinesRequests} klines requests`);
        // Steady state: the bootstrap's garbage collected and the live stream flowing.
        await sleep(env.opts.quick ? 5000 : 15_000);
        const heap0 = await server.memory(true);
        const f0 = (await server.counters()).updatesIn;
        const p0 = server.sample();
        let rssMax = 0;
        for (let t = 0; t < windowS; t++) {
          await sleep(1000);
          rssMax = Math.max(rssMax, server.sample()?.rssBytes ?? 0);
        }
        const p1 = server.sample();
        const c1 = await server.counters();
        const mem = await server.memory(true);
        await sleep(SETTLE_MS);
        const rssBytes = server.sample()!.rssBytes;
        env.log(`  steady RSS by mapping (MiB): ${rssByMapping(server.pid)}; V8 ${(mem.heapTotal / 2 ** 20).toFixed(0)} MiB committed, array buffers ${(mem.arrayBuffers / 2 ** 20).toFixed(0)} MiB`);
        const run: UniverseRun = {
          symbols: symbols.length,
          series: c1.storeSeries!,
          bootstrapMs: server.bootstrapMs,
          restRequests: after.restRequests - before.restRequests,
          klinesRequests: after.klinesRequests - before.klinesRequests,
          // klines weigh 2 at any limit up to 1,000; the rest is exchangeInfo (20), counted as such (an upper bound).
          restWeight: 2 * (after.klinesRequests - before.klinesRequests) + 20 * (after.restRequests - before.restRequests - (after.klinesRequests - before.klinesRequests)),
          restRetries: c1.restRetries!,
          storeBars: c1.storeBars!,
          storeBytes: c1.storeBytes!,
          baseRssBytes,
          rssBytes,
          rssMaxBytes: rssMax,
          heapUsedBytes: mem.heapUsed,
          heapTotalBytes: mem.heapTotal,
          arrayBuffersBytes: mem.arrayBuffers,
          heapGrowthPerMinBytes: ((mem.heapUsed - heap0.heapUsed) / windowS) * 60,
          cpuShare: cpuShare(p0, p1),
          framesPerS: (c1.updatesIn! - f0!) / windowS,
          trace,
        };
        env.log(
          `  steady: RSS ${(rssBytes / 2 ** 20).toFixed(0)} MiB (max ${(rssMax / 2 ** 20).toFixed(0)}), ${((rssBytes - baseRssBytes) / run.storeBars).toFixed(1)} B/bar beyond the base, CPU ${(run.cpuShare * 100).toFixed(1)}% at ${run.framesPerS.toFixed(0)} frames/s, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} of ${(mem.heapTotal / 2 ** 20).toFixed(0)} MiB (+${(run.heapGrowthPerMinBytes / 2 ** 20).toFixed(1)} MiB/min) + buffers ${(mem.arrayBuffers / 2 ** 20).toFixed(0)} MiB`,
        );
        return report(run);
      } finally {
        clearInterval(tracer);
        await server.stop();
      }
    } finally {
      clearInterval(tracer);
    }
  } finally {
    await sim.stop(10_000);
    await dropPrefix(prefix);
  }
}

function report(r: UniverseRun): ScenarioOutput {
  const label = `${r.symbols.toLocaleString('en-US')} symbols × ${INTERVALS.length} intervals (${r.series.toLocaleString('en-US')} series)`;
  const v = (x: number) => ({ engine: sig(x) });
  const MiB = 2 ** 20;
  const rows: Row[] = [
    { scenario: 'universe', metric: `${label}: bootstrap (restore from Redis + missing tail from REST), whole universe`, unit: 'min', better: 'lower', values: v(r.bootstrapMs / 60_000), note: `paced by ${WEIGHT_BUDGET} weight/min: ≥ ${(r.restWeight / WEIGHT_BUDGET).toFixed(1)} min` },
    { scenario: 'universe', metric: `${label}: REST weight of the bootstrap (${r.klinesRequests} klines requests, ${r.restRetries} retries)`, unit: 'weight', better: 'lower', values: v(r.restWeight) },
    { scenario: 'universe', metric: `${label}: RSS at steady state, after GC`, unit: 'MiB', better: 'lower', values: v(r.rssBytes / MiB), target: { engineMax: 1024, label: '≤ 1 GiB' } },
    { scenario: 'universe', metric: `${label}: RSS, highest over the steady window`, unit: 'MiB', better: 'lower', values: v(r.rssMaxBytes / MiB) },
    { scenario: 'universe', metric: `${label}: RSS per stored bar beyond an engine with one series (${(r.storeBars / 1e6).toFixed(2)} M bars)`, unit: 'B', better: 'lower', values: v((r.rssBytes - r.baseRssBytes) / r.storeBars), target: { engineMax: 64, label: '≤ 64 B/bar' } },
    { scenario: 'universe', metric: `${label}: bar columns per stored bar (engine_store_bytes / engine_store_bars)`, unit: 'B', better: 'lower', values: v(r.storeBytes / r.storeBars) },
    { scenario: 'universe', metric: `${label}: JS heap after GC at steady state (bar columns are outside it)`, unit: 'MiB', better: 'lower', values: v(r.heapUsedBytes / MiB) },
    { scenario: 'universe', metric: `${label}: JS heap growth at steady state, no clients`, unit: 'MiB/min', better: 'lower', values: v(r.heapGrowthPerMinBytes / MiB), target: { label: 'flat' } },
    { scenario: 'universe', metric: `${label}: engine CPU at steady state, no clients (${Math.round(r.framesPerS)} frames/s in)`, unit: '% core', better: 'lower', values: v(r.cpuShare * 100), target: { engineMax: 25, label: '≤ 25% of a core' } },
  ];
  return { rows, data: r };
}
