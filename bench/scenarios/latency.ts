import { sleep } from '../lib/clock.ts';
import { clientPaths, measureWindow, sampleEvery, type WindowStats } from '../lib/measure.ts';
import type { ServerKind } from '../lib/server-under-test.ts';
import { median, sig } from '../lib/stats.ts';
import { type BenchEnv, type Row, type ScenarioOutput, timeLeft, withServer } from './context.ts';
import { type RampResult, ramp } from './fanout.ts';
import { cpuText } from './limits.ts';

/** Binance pushes a kline update about every second or two; the issue fixes "Binance's pace" at 2/s. */
const BINANCE_PACE = 2;

interface LatencyRun {
  rate: number;
  windows: Array<Omit<WindowStats, 'latencyHistogram'>>;
}

/** The engine's saturation rate at (clients, symbols): from the fan-out scenario, or a ramp of its own. */
async function saturationRate(env: BenchEnv, clients: number, symbols: number): Promise<{ rate: number; from: string }> {
  const fan = env.results.get('fanout')?.data as Record<string, Partial<Record<ServerKind, RampResult[]>>> | undefined;
  const runs = fan?.[`C=${clients} S=${symbols}`]?.engine;
  if (runs?.length) return { rate: median(runs.map((r) => r.maxRate)), from: 'fan-out scenario' };
  const r = await withServer(env, 'engine', { symbols: env.symbols.slice(0, symbols) }, (s) => ramp(env, s, clients, symbols));
  return { rate: r.maxRate, from: 'own ramp' };
}

/**
 * Scenario 2: end-to-end latency (relay send → client receive) at Binance's pace and at 50% of the
 * engine's saturation rate, every update timed (below ~20k timed messages per second).
 */
export async function latency(env: BenchEnv): Promise<ScenarioOutput> {
  const { quick, repeats } = env.opts;
  const clients = quick ? 500 : 1000;
  const symbols = 20;
  const sat = await saturationRate(env, clients, symbols);
  const half = Math.max(BINANCE_PACE, Math.floor(sat.rate / 2));
  env.log(`  latency: 50% of the engine's saturation rate (${sat.rate}/s, ${sat.from}) = ${half}/s per stream`);
  const { paths, subscribers } = clientPaths(env.symbols.slice(0, symbols), clients);
  const data: Partial<Record<ServerKind, { pace: LatencyRun; half: LatencyRun }>> = {};
  for (const kind of env.opts.servers) {
    if (!timeLeft(env)) break;
    data[kind] = await withServer(env, kind, { symbols: env.symbols.slice(0, symbols) }, async (server) => {
      await env.upstream.setRate(BINANCE_PACE);
      await env.pool.connect(server.url, paths, { concurrency: 256, timeoutMs: 60_000 });
      await env.upstream.feed(env.pool);
      const run = async (rate: number, seconds: number): Promise<LatencyRun> => {
        await env.upstream.setRate(rate);
        await env.pool.sample(sampleEvery(clients, rate));
        await sleep(1000);
        const windows = [];
        for (let i = 0; i < repeats; i++) {
          const { latencyHistogram: _, ...w } = await measureWindow({ upstream: env.upstream, pool: env.pool, server }, seconds, subscribers);
          env.log(`  ${kind} latency R=${rate}/s: p50 ${w.latency.p50Ms} p99 ${w.latency.p99Ms} max ${w.latency.maxMs} ms (${w.latency.samples} samples), ${cpuText({ ...w } as WindowStats)}`);
          windows.push(w);
        }
        return { rate, windows };
      };
      const pace = await run(BINANCE_PACE, quick ? 3 : 8);
      const halfRun = await run(half, quick ? 2 : 4);
      await env.upstream.feed(undefined);
      await env.upstream.setRate(0);
      return { pace, half: halfRun };
    });
  }
  const rows: Row[] = [];
  const q = (key: 'pace' | 'half', f: 'p50Ms' | 'p90Ms' | 'p99Ms' | 'maxMs') =>
    Object.fromEntries(Object.entries(data).map(([k, v]) => [k, sig(median(v![key].windows.map((w) => w.latency[f])))]));
  const paceLabel = `${clients} clients, ${symbols} symbols, ${BINANCE_PACE}/s`;
  rows.push(
    { scenario: 'latency', metric: `${paceLabel}: p50`, unit: 'ms', better: 'lower', values: q('pace', 'p50Ms') },
    { scenario: 'latency', metric: `${paceLabel}: p90`, unit: 'ms', better: 'lower', values: q('pace', 'p90Ms') },
    { scenario: 'latency', metric: `${paceLabel}: p99`, unit: 'ms', better: 'lower', values: q('pace', 'p99Ms'), target: { engineMax: 5, label: 'engine < 5 ms' } },
    { scenario: 'latency', metric: `${paceLabel}: max`, unit: 'ms', better: 'lower', values: q('pace', 'maxMs') },
    { scenario: 'latency', metric: `50% saturation (${half}/s): p50`, unit: 'ms', better: 'lower', values: q('half', 'p50Ms') },
    { scenario: 'latency', metric: `50% saturation (${half}/s): p99`, unit: 'ms', better: 'lower', values: q('half', 'p99Ms'), target: { vsCeiling: 2, label: '≤2× ceiling' } },
    { scenario: 'latency', metric: `50% saturation (${half}/s): max`, unit: 'ms', better: 'lower', values: q('half', 'maxMs') },
  );
  return { rows, data: { saturation: sat, halfRate: half, runs: data } };
}
