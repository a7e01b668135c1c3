import { sleep } from '../lib/clock.ts';
import { clientPaths } from '../lib/measure.ts';
import type { ServerKind } from '../lib/server-under-test.ts';
import { median, sig } from '../lib/stats.ts';
import { type BenchEnv, type Row, type ScenarioOutput, timeLeft, withServer } from './context.ts';

interface StormRun {
  clients: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  lastMs: number;
  /**
   * Clients served per second: half of them over the median time to historical. Not the last one,
   * nor p90/p99: when the accept queue overflows, a dropped SYN is retried by the client's kernel
   * after 1 s, and whether 1% or 10% of a storm hits that decides p99 or p90, for every server alike.
   */
  perS: number;
  historicalBytes: number;
  historicalBars: number;
}

/**
 * Scenario 3: every client connects at once (no pacing) and waits for its 720-candle `historical`;
 * time is measured from the common start. The stream runs at Binance's pace meanwhile.
 */
export async function connectStorm(env: BenchEnv): Promise<ScenarioOutput> {
  const sizes = env.opts.quick ? [200, 1000] : [1000, 5000];
  const symbols = 20;
  const data: Partial<Record<ServerKind, StormRun[]>> = {};
  for (const kind of env.opts.servers) {
    if (!timeLeft(env)) break;
    await withServer(env, kind, { symbols: env.symbols.slice(0, symbols) }, async (server) => {
      await env.upstream.setRate(2);
      for (const clients of sizes) {
        for (let r = 0; r < env.opts.repeats && timeLeft(env); r++) {
          const { paths } = clientPaths(env.symbols.slice(0, symbols), clients);
          const c = await env.pool.connect(server.url, paths, { concurrency: 0, timeoutMs: 30_000 });
          await env.pool.disconnect();
          const h = c.timeToHistorical;
          const run: StormRun = {
            clients,
            ok: c.ok,
            failed: c.failed,
            failures: c.failures,
            p50Ms: h.quantile(0.5) / 1000,
            p90Ms: h.quantile(0.9) / 1000,
            p99Ms: h.quantile(0.99) / 1000,
            lastMs: h.max / 1000,
            perS: (0.5 * clients) / (h.quantile(0.5) / 1e6),
            historicalBytes: c.historical?.bytes ?? 0,
            historicalBars: c.historical?.bars ?? 0,
          };
          env.log(`  ${kind} storm ${clients}: p50 ${run.p50Ms.toFixed(0)} p90 ${run.p90Ms.toFixed(0)} p99 ${run.p99Ms.toFixed(0)} last ${run.lastMs.toFixed(0)} ms, ${run.failed} failed ${JSON.stringify(run.failures)}, historical ${run.historicalBars} bars / ${run.historicalBytes} B`);
          (data[kind] ??= []).push(run);
          await sleep(500);
        }
      }
      await env.upstream.setRate(0);
    });
  }
  return stormReport(data);
}

/** Table rows from the storms (also used to re-render a results file). */
export function stormReport(data: Partial<Record<ServerKind, StormRun[]>>): ScenarioOutput {
  const sizes = [...new Set(Object.values(data).flatMap((rs) => rs!.map((r) => r.clients)))].sort((a, b) => a - b);
  const rows: Row[] = [];
  for (const clients of sizes) {
    const m = (f: (r: StormRun) => number) =>
      Object.fromEntries(Object.entries(data).map(([k, rs]) => [k, sig(median(rs!.filter((r) => r.clients === clients).map(f)))]));
    rows.push(
      { scenario: 'connect storm', metric: `${clients} at once: time to historical p50`, unit: 'ms', better: 'lower', values: m((r) => r.p50Ms) },
      { scenario: 'connect storm', metric: `${clients} at once: time to historical p90`, unit: 'ms', better: 'lower', values: m((r) => r.p90Ms) },
      { scenario: 'connect storm', metric: `${clients} at once: time to historical p99`, unit: 'ms', better: 'lower', values: m((r) => r.p99Ms) },
      { scenario: 'connect storm', metric: `${clients} at once: clients served per second`, unit: '/s', better: 'higher', values: m((r) => (0.5 * r.clients) / (r.p50Ms / 1000)), target: { vsCeiling: 0.8, vsBaseline: 1.5, label: '≥0.8× ceiling, ≥1.5× ws' } },
      { scenario: 'connect storm', metric: `${clients} at once: failures`, unit: 'clients', better: 'lower', values: m((r) => r.failed) },
    );
  }
  return { rows, data };
}
