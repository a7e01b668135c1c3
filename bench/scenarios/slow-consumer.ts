import { sleep } from '../lib/clock.ts';
import { measureWindow, type WindowStats } from '../lib/measure.ts';
import { procSample } from '../lib/proc-stats.ts';
import type { ServerKind } from '../lib/server-under-test.ts';
import { median, sig } from '../lib/stats.ts';
import { type BenchEnv, type Row, type ScenarioOutput, connectClients, timeLeft, withServer } from './context.ts';

interface SlowRun {
  rate: number;
  clients: number;
  p99BeforeMs: number;
  /** p99 of the other clients in each window after one client stopped reading. */
  p99AfterMs: number[];
  rssAtPauseMiB: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  serverCounters: { before: Record<string, number>; after: Record<string, number> };
  closesAfter: Record<string, number>;
}

/**
 * Scenario 6: one client stops reading (its socket is paused, so TCP backs up into the server) while
 * the others read on. The others' p99 should not move, and the server's memory should stay bounded:
 * the engine closes a client whose send buffer passes MAX_BACKPRESSURE_BYTES with 1013.
 */
export async function slowConsumer(env: BenchEnv): Promise<ScenarioOutput> {
  const { quick } = env.opts;
  const clients = quick ? 300 : 1000;
  const symbols = 20;
  const rate = 20;
  const afterWindows = quick ? 2 : 3;
  const data: Partial<Record<ServerKind, SlowRun>> = {};
  for (const kind of env.opts.servers) {
    if (!timeLeft(env)) break;
    data[kind] = await withServer(env, kind, { symbols: env.symbols.slice(0, symbols) }, async (server) => {
      const { subscribers } = await connectClients(env, server, symbols, clients, rate);
      await sleep(1000);
      const ctx = { upstream: env.upstream, pool: env.pool, server };
      const before = await measureWindow(ctx, quick ? 2 : 4, subscribers);
      const countersBefore = await server.counters();
      await env.pool.pause(1);
      const rssAtPause = procSample(server.pid)?.rssBytes ?? NaN;
      let rssMax = rssAtPause;
      const sampler = setInterval(() => (rssMax = Math.max(rssMax, procSample(server.pid)?.rssBytes ?? 0)), 250);
      const after: WindowStats[] = [];
      try {
        for (let i = 0; i < afterWindows; i++) after.push(await measureWindow(ctx, quick ? 2 : 4, subscribers));
      } finally {
        clearInterval(sampler);
      }
      const closesAfter: Record<string, number> = {};
      for (const w of after) for (const [k, n] of Object.entries(w.closes)) closesAfter[k] = (closesAfter[k] ?? 0) + n;
      await env.upstream.feed(undefined);
      await env.upstream.setRate(0);
      const run: SlowRun = {
        rate,
        clients,
        p99BeforeMs: before.latency.p99Ms,
        p99AfterMs: after.map((w) => w.latency.p99Ms),
        rssAtPauseMiB: rssAtPause / 2 ** 20,
        rssMaxMiB: rssMax / 2 ** 20,
        rssEndMiB: (procSample(server.pid)?.rssBytes ?? NaN) / 2 ** 20,
        serverCounters: { before: countersBefore, after: await server.counters() },
        closesAfter,
      };
      env.log(`  ${kind} slow consumer: p99 ${run.p99BeforeMs} ms before, ${run.p99AfterMs.join(' / ')} ms after; RSS ${run.rssAtPauseMiB.toFixed(1)} -> max ${run.rssMaxMiB.toFixed(1)} MiB; counters ${JSON.stringify(run.serverCounters.after)}`);
      return run;
    });
  }
  const v = (f: (r: SlowRun) => number) => Object.fromEntries(Object.entries(data).map(([k, r]) => [k, sig(f(r!))]));
  const label = `1 of ${clients} stops reading (${rate}/s × ${symbols} symbols)`;
  const rows: Row[] = [
    { scenario: 'slow consumer', metric: `${label}: others' p99 before`, unit: 'ms', better: 'lower', values: v((r) => r.p99BeforeMs) },
    { scenario: 'slow consumer', metric: `${label}: others' p99 after (median)`, unit: 'ms', better: 'lower', values: v((r) => median(r.p99AfterMs)), target: { label: 'unchanged' } },
    { scenario: 'slow consumer', metric: `${label}: server RSS growth while stalled`, unit: 'MiB', better: 'lower', values: v((r) => r.rssMaxMiB - r.rssAtPauseMiB), target: { label: 'bounded' } },
  ];
  return { rows, data };
}
