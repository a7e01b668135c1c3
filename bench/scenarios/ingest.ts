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
  writtenPerS: number;
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
  const rates = env.opts.quick ? [50, 250] : [50, 100, 250, 500, 1000];
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
        const step: IngestStep = { ratePerStream: rate, sentPerS: sent, framesInPerS: frames, writtenPerS: written, engineCpu: cpu, usPerUpdate: (cpu * 1e6) / frames, keepsUp: frames >= 0.95 * sent && written >= 0.9 * frames };
        steps.push(step);
        env.log(`  ingest ${store} R=${rate}×20: sent ${sent.toFixed(0)}/s, engine in ${frames.toFixed(0)}/s, written ${written.toFixed(0)}/s, engine CPU ${(cpu * 100).toFixed(0)}% (${step.usPerUpdate.toFixed(1)} µs/update)`);
        if (sent < 0.8 * rate * symbols.length) {
          limiter = 'upstream relay (could not emit the rate)';
          break;
        }
        if (!step.keepsUp || cpu > 0.9) {
          limiter = cpu > 0.85 ? 'engine CPU' : store === 'redis' ? 'Redis writes' : 'pipeline';
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

  // Bootstrap: every (symbol, interval) from REST, BUFFER_SIZE bars each.
  const symbols = env.symbols.slice(0, env.opts.quick ? 10 : 50);
  const intervals = ['1m', '5m', '15m', '1h', '4h', '1d'];
  const boot = await withServer(env, 'engine', { symbols, intervals, bufferSize: 1000 }, async (s: ServerUnderTest) => ({ ms: s.bootstrapMs, counters: await s.counters() }));
  const series = symbols.length * intervals.length;
  env.log(`  bootstrap: ${series} series × 1000 bars in ${boot.ms.toFixed(0)} ms (${((series * 1000) / boot.ms).toFixed(0)} series/s), REST weight ${boot.counters.restWeight}, retries ${boot.counters.restRetries}`);

  const rows: Row[] = [];
  for (const r of runs) {
    rows.push(
      { scenario: 'ingest', metric: `${r.store} store: updates/s sustained (no clients)`, unit: '/s', better: 'higher', values: { engine: sig(r.maxSustainedPerS) }, note: r.limiter },
      { scenario: 'ingest', metric: `${r.store} store: engine CPU per update`, unit: 'µs', better: 'lower', values: { engine: sig(r.usPerUpdate) }, note: `≈ ${sig(1e6 / r.usPerUpdate, 2)} updates/s per core` },
    );
  }
  rows.push({ scenario: 'ingest', metric: `bootstrap ${series} series × 1000 bars`, unit: 'series/s', better: 'higher', values: { engine: sig((series * 1000) / boot.ms) }, note: `${sig(boot.ms / 1000)} s, REST weight ${boot.counters.restWeight}/min, ${boot.counters.restRetries} retries` });
  return { rows, data: { runs, bootstrap: { series, symbols: symbols.length, intervals, ...boot } } };
}
