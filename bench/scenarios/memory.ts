import { sleep } from '../lib/clock.ts';
import { clientPaths, measureWindow } from '../lib/measure.ts';
import { procSample } from '../lib/proc-stats.ts';
import type { ServerKind } from '../lib/server-under-test.ts';
import { median, sig, slope } from '../lib/stats.ts';
import { type BenchEnv, type Row, type ScenarioOutput, connectClients, timeLeft, withServer } from './context.ts';

interface IdleRun {
  clients: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  heapBeforeBytes: number;
  heapAfterBytes: number;
  rssPerClientBytes: number;
  heapPerClientBytes: number;
}

/** Scenario 5a: resident memory per idle client (connected, subscribed, no updates), after a GC. */
export async function idleMemory(env: BenchEnv): Promise<ScenarioOutput> {
  const clients = env.opts.quick ? 1000 : 5000;
  const symbols = 20;
  const data: Partial<Record<ServerKind, IdleRun[]>> = {};
  await env.upstream.setRate(0);
  for (let r = 0; r < env.opts.repeats; r++) {
    for (const kind of env.opts.servers) {
      if (!timeLeft(env)) break;
      const run = await withServer(env, kind, { symbols: env.symbols.slice(0, symbols) }, async (server) => {
        await sleep(500);
        const m0 = await server.memory(true);
        await sleep(300);
        const rss0 = server.sample()!.rssBytes;
        const { paths } = clientPaths(env.symbols.slice(0, symbols), clients);
        const c = await env.pool.connect(server.url, paths, { concurrency: 500, timeoutMs: 60_000 });
        await sleep(1500);
        const m1 = await server.memory(true);
        await sleep(300);
        const rss1 = server.sample()!.rssBytes;
        return {
          clients: c.ok,
          rssBeforeBytes: rss0,
          rssAfterBytes: rss1,
          heapBeforeBytes: m0.heapUsed,
          heapAfterBytes: m1.heapUsed,
          rssPerClientBytes: (rss1 - rss0) / c.ok,
          heapPerClientBytes: (m1.heapUsed - m0.heapUsed) / c.ok,
        };
      });
      env.log(`  ${kind} idle memory: ${(run.rssPerClientBytes / 1024).toFixed(1)} KiB RSS / client (${run.clients} clients), heap ${(run.heapPerClientBytes / 1024).toFixed(1)} KiB / client`);
      (data[kind] ??= []).push(run);
    }
  }
  const m = (f: (r: IdleRun) => number) => Object.fromEntries(Object.entries(data).map(([k, rs]) => [k, sig(median(rs!.map(f)))]));
  const rows: Row[] = [
    { scenario: 'memory', metric: `RSS per idle client at ${clients}`, unit: 'KiB', better: 'lower', values: m((r) => r.rssPerClientBytes / 1024), target: { engineMax: 20, label: 'engine < 20 KiB' } },
    { scenario: 'memory', metric: `JS heap per idle client at ${clients} (after GC)`, unit: 'KiB', better: 'lower', values: m((r) => r.heapPerClientBytes / 1024) },
  ];
  return { rows, data };
}

interface SoakRun {
  seconds: number;
  rate: number;
  clients: number;
  /** [seconds since start, RSS MiB] every second. */
  rss: Array<[number, number]>;
  rssGrowthMiB: number;
  /** Slope over the last two thirds (the first third still sheds the connect-time garbage). */
  rssSlopeMiBPerMin: number;
  heapAfterGcStartMiB: number;
  heapAfterGcEndMiB: number;
  deliveredRatio: number;
  p99Ms: number;
}

/** Scenario 5b: memory over a soak at steady load (should stay flat). Engine only unless --soak-all. */
export async function soak(env: BenchEnv): Promise<ScenarioOutput> {
  const seconds = env.opts.soakSeconds;
  const clients = env.opts.quick ? 500 : 1000;
  const symbols = 20;
  const rate = 10;
  const kinds = env.opts.servers.includes('engine') ? (['engine'] as ServerKind[]) : env.opts.servers.slice(0, 1);
  const data: Partial<Record<ServerKind, SoakRun>> = {};
  for (const kind of kinds) {
    if (!timeLeft(env)) break;
    data[kind] = await withServer(env, kind, { symbols: env.symbols.slice(0, symbols) }, async (server) => {
      const { subscribers } = await connectClients(env, server, symbols, clients, rate);
      // Warm-up: let the JIT, buffers and the first GC cycles settle before the baseline.
      await sleep(Math.min(5000, seconds * 100));
      const heap0 = await server.memory(true);
      const rss: Array<[number, number]> = [];
      const started = performance.now();
      const sampler = setInterval(() => {
        const s = procSample(server.pid);
        if (s) rss.push([(performance.now() - started) / 1000, s.rssBytes / 2 ** 20]);
      }, 1000);
      const w = await measureWindow({ upstream: env.upstream, pool: env.pool, server }, seconds, subscribers).finally(() => clearInterval(sampler));
      const heap1 = await server.memory(true);
      await env.upstream.feed(undefined);
      await env.upstream.setRate(0);
      const run: SoakRun = {
        seconds,
        rate,
        clients,
        rss,
        rssGrowthMiB: rss.length > 1 ? rss.at(-1)![1] - rss[0]![1] : NaN,
        rssSlopeMiBPerMin: slope(rss.slice(Math.floor(rss.length / 3))) * 60,
        heapAfterGcStartMiB: heap0.heapUsed / 2 ** 20,
        heapAfterGcEndMiB: heap1.heapUsed / 2 ** 20,
        deliveredRatio: w.ratio,
        p99Ms: w.latency.p99Ms,
      };
      env.log(`  ${kind} soak ${seconds}s: RSS ${rss[0]?.[1].toFixed(1)} -> ${rss.at(-1)?.[1].toFixed(1)} MiB (slope ${run.rssSlopeMiBPerMin.toFixed(2)} MiB/min), heap after GC ${run.heapAfterGcStartMiB.toFixed(1)} -> ${run.heapAfterGcEndMiB.toFixed(1)} MiB`);
      return run;
    });
  }
  const v = (f: (r: SoakRun) => number) => Object.fromEntries(Object.entries(data).map(([k, r]) => [k, sig(f(r!))]));
  const label = `${seconds} s soak, ${clients} clients × ${rate}/s`;
  const rows: Row[] = [
    { scenario: 'memory', metric: `${label}: RSS trend, last ⅔ of the soak`, unit: 'MiB/min', better: 'lower', values: v((r) => r.rssSlopeMiBPerMin), note: 'single run' },
    { scenario: 'memory', metric: `${label}: heap after GC, end − start`, unit: 'MiB', better: 'lower', values: v((r) => r.heapAfterGcEndMiB - r.heapAfterGcStartMiB), target: { label: 'flat' } },
  ];
  return { rows, data };
}
