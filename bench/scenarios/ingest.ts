import { Redis } from 'ioredis';
import { sleep } from '../lib/clock.ts';
import { cpuShare, procSample } from '../lib/proc-stats.ts';
import { ServerUnderTest } from '../lib/server-under-test.ts';
import { sig } from '../lib/stats.ts';
import { type BenchEnv, type Row, type ScenarioOutput, timeLeft, withServer } from './context.ts';

const REDIS_URL = 'redis://127.0.0.1:6379/14';
/**
 * Hook for issue 7 (derived series): intervals the engine computes from the native stream. When the
 * engine supports them, list them here (e.g. ten custom intervals) and the ingest figures include the
 * cost of deriving them; until then ingest measures the native series only.
 */
export const DERIVED_INTERVALS: string[] = [];

interface IngestStep {
  ratePerStream: number;
  sentPerS: number;
  framesInPerS: number;
  /** Bar writes the store made (a write-behind store coalesces updates of one bar). */
  writtenPerS: number;
  /** Writes queued in the store at the window's end (bounded when the store keeps up). */
  pendingWrites: number;
  engineCpu: number;
  usPerUpdate: number;
  keepsUp: boolean;
}

interface IngestRun {
  store: 'memory' | 'redis';
  steps: IngestStep[];
  maxSustainedPerS: number;
  usPerUpdate: number;
  limiter: string;
}

async function ingestRun(env: BenchEnv, store: 'memory' | 'redis'): Promise<IngestRun> {
  const symbols = env.symbols.slice(0, 20);
  const prefix = `bench:${process.pid}:${Date.now()}:`;
  const rates = env.opts.quick ? [50, 250] : [100, 250, 500, 1000, 2000];
  try {
    return await withServer(env, 'engine', { symbols, intervals: ['1m', ...DERIVED_INTERVALS], ...(store === 'redis' ? { redisUrl: REDIS_URL, redisKeyPrefix: prefix } : {}) }, async (server) => {
      const steps: IngestStep[] = [];
      let limiter = 'not reached (rate cap)';
      for (const rate of rates) {
        if (!timeLeft(env)) break;
        await env.upstream.setRate(rate);
        await sleep(800);
        const c0 = await server.counters();
        const p0 = procSample(server.pid);
        await env.upstream.windowStart();
        await sleep(env.opts.quick ? 1500 : 3000);
        const up = await env.upstream.windowEnd();
        const p1 = procSample(server.pid);
        const c1 = await server.counters();
        const sent = Object.values(up.sent).reduce((s, n) => s + n, 0) / up.seconds;
        const frames = (c1.updatesIn! - c0.updatesIn!) / up.seconds;
        const written = (c1.written! - c0.written!) / up.seconds;
        const cpu = cpuShare(p0, p1);
        const pending = c1.pendingWrites ?? 0;
        const step: IngestStep = { ratePerStream: rate, sentPerS: sent, framesInPerS: frames, writtenPerS: written, pendingWrites: pending, engineCpu: cpu, usPerUpdate: (cpu * 1e6) / frames, keepsUp: frames >= 0.95 * sent && pending <= 10 * symbols.length };
        steps.push(step);
        env.log(`  ingest ${store} R=${rate}×20: sent ${sent.toFixed(0)}/s, engine in ${frames.toFixed(0)}/s, store writes ${written.toFixed(0)}/s (${pending} pending), engine CPU ${(cpu * 100).toFixed(0)}% (${step.usPerUpdate.toFixed(1)} µs/update)`);
        if (sent < 0.8 * rate * symbols.length) {
          limiter = 'upstream relay (could not emit the rate)';
          break;
        }
        if (!step.keepsUp || cpu > 0.9) {
          limiter = cpu > 0.85 ? 'engine CPU' : pending > 10 * symbols.length ? 'store writes' : 'pipeline';
          if (!step.keepsUp) break;
        }
      }
      await env.upstream.setRate(0);
      const best = steps.filter((s) => s.keepsUp).at(-1);
      return { store, steps, maxSustainedPerS: best?.framesInPerS ?? 0, usPerUpdate: best?.usPerUpdate ?? NaN, limiter };
    });
  } finally {
    if (store === 'redis') await deleteKeys(prefix);
  }
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
}

async function redisUp(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Scenario 4: updates per second through the engine's pipeline with no clients (memory store, then
 * Redis), and a full bootstrap of many series (series/s, REST weight).
 */
export async function ingest(env: BenchEnv): Promise<ScenarioOutput> {
  if (!env.opts.servers.includes('engine')) return { rows: [], data: { skipped: 'engine not selected' } };
  const runs: IngestRun[] = [await ingestRun(env, 'memory')];
  if (await redisUp()) runs.push(await ingestRun(env, 'redis'));
  else env.log('  ingest: no redis-server at 127.0.0.1:6379, Redis run skipped');

  // Bootstrap: every (symbol, interval) from REST, BUFFER_SIZE bars each. Intervals up to 1h: the
  // simulator builds coarser candles from finer ones and would be what is measured.
  const symbols = env.symbols.slice(0, env.opts.quick ? 10 : 50);
  const intervals = ['1m', '5m', '15m', '1h'];
  const sim0 = await env.upstream.simStats();
  const up0 = procSample(env.upstream.pid);
  const boot = await withServer(env, 'engine', { symbols, intervals, bufferSize: 1000 }, async (s: ServerUnderTest) => ({
    ms: s.bootstrapMs,
    counters: await s.counters(),
    simCpu: cpuShare(up0, procSample(env.upstream.pid)),
    sim: await env.upstream.simStats(),
  }));
  const series = symbols.length * intervals.length;
  const requests = boot.sim.restRequests - sim0.restRequests;
  env.log(`  bootstrap: ${series} series × 1000 bars in ${boot.ms.toFixed(0)} ms (${((series * 1000) / boot.ms).toFixed(0)} series/s), ${requests} REST requests, weight ${boot.sim.weightUsed} in the minute, ${boot.counters.restRetries} retries, simulator CPU ${(boot.simCpu * 100).toFixed(0)}%`);

  const rows: Row[] = [];
  for (const r of runs) {
    rows.push(
      { scenario: 'ingest', metric: `${r.store} store: updates/s sustained (no clients)`, unit: '/s', better: 'higher', values: { engine: sig(r.maxSustainedPerS) }, note: r.limiter },
      { scenario: 'ingest', metric: `${r.store} store: engine CPU per update`, unit: 'µs', better: 'lower', values: { engine: sig(r.usPerUpdate) }, note: `≈ ${sig(1e6 / r.usPerUpdate, 2)} updates/s per core` },
    );
  }
  rows.push({ scenario: 'ingest', metric: `bootstrap ${series} series × 1000 bars`, unit: 'series/s', better: 'higher', values: { engine: sig((series * 1000) / boot.ms) }, note: `${sig(boot.ms / 1000)} s, ${requests} requests, weight ${boot.sim.weightUsed}/6000 per min, ${boot.counters.restRetries} retries; simulator CPU ${Math.round(boot.simCpu * 100)}%` });
  return { rows, data: { runs, bootstrap: { series, symbols: symbols.length, intervals, requests, ...boot } } };
}
