import WebSocket from 'ws';
import { sleep } from '../lib/clock.ts';
import { clientPaths, measureWindow, sampleEvery } from '../lib/measure.ts';
import { ServerUnderTest } from '../lib/server-under-test.ts';
import { sig } from '../lib/stats.ts';
import { Upstream } from '../lib/upstream.ts';
import type { BenchEnv, Row, ScenarioOutput } from './context.ts';

const BINANCE_PACE = 2;
const COLD = 50;

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

/** Milliseconds from opening `/ws/SYM` to its `historical` message (or a rejection on an error/close). */
function coldRequest(url: string, timeoutMs = 30_000): Promise<{ ms: number; ws: WebSocket; loading: boolean }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let loading = false;
    const timer = setTimeout(() => reject(new Error(`${url}: no historical within ${timeoutMs} ms`)), timeoutMs);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"loading"')) loading = true;
      else if (text.startsWith('{"type":"historical"')) {
        clearTimeout(timer);
        resolve({ ms: performance.now() - t0, ws, loading });
      } else if (text.startsWith('{"type":"error"')) {
        clearTimeout(timer);
        reject(new Error(`${url}: ${text.slice(0, 200)}`));
      }
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * Issue 12: time from a client's request for a cold symbol (configured nowhere, never watched) to its
 * `historical`, over 50 cold symbols requested one every windowMs/50 while 500 other clients follow 20
 * configured symbols at Binance's pace; and those clients' latency p99 in a window without cold
 * requests versus one with them. Engine only (the reference servers serve fixed symbols). Its own
 * upstream: the bench simulator plus 50 symbols nobody configures.
 */
export async function onDemand(env: BenchEnv): Promise<ScenarioOutput> {
  const { quick } = env.opts;
  const clients = quick ? 200 : 500;
  const symbols = 20;
  const seconds = quick ? 6 : 10;
  const cold = Array.from({ length: COLD }, (_, i) => `COLD${String(i).padStart(2, '0')}USDT`);
  const upstream = await Upstream.start({ symbols: [...env.symbols, ...cold], seed: 42, pushIntervalMs: 250 });
  const server = await ServerUnderTest.start('engine', { restUrl: upstream.restUrl, wsUrl: upstream.wsUrl, symbols: env.symbols.slice(0, symbols), intervals: ['1m'], cpuProfileDir: env.opts.profileDir });
  const opened: WebSocket[] = [];
  try {
    const { paths, subscribers } = clientPaths(env.symbols.slice(0, symbols), clients);
    await upstream.setRate(BINANCE_PACE);
    await env.pool.connect(server.url, paths, { concurrency: 256, timeoutMs: 60_000 });
    await upstream.feed(env.pool);
    await env.pool.sample(sampleEvery(clients, BINANCE_PACE));
    await sleep(1000);
    const ctx = { upstream, pool: env.pool, server };
    // The engine's event-loop delay in each window: what a live update waits behind in the engine
    // itself, apart from the machine (the other clients' latency also carries the shared cores' load).
    await server.loopDelayStart();
    const without = await measureWindow(ctx, seconds, subscribers);
    const loopWithout = await server.loopDelayEnd();
    env.log(`  on-demand: others without cold requests p50 ${without.latency.p50Ms} p99 ${without.latency.p99Ms} ms; engine loop delay p99 ${loopWithout.p99Ms} max ${loopWithout.maxMs} ms`);
    const wsBase = server.url.replace(/^http/, 'ws');
    await server.loopDelayStart();
    const times: number[] = [];
    let allLoading = true;
    const requests = (async () => {
      const spacing = (seconds * 1000) / (COLD + 1);
      const pending: Array<Promise<void>> = [];
      for (const sym of cold) {
        pending.push(
          coldRequest(`${wsBase}/ws/${sym}?interval=1m`).then((r) => {
            times.push(r.ms);
            allLoading &&= r.loading;
            opened.push(r.ws);
          }),
        );
        await sleep(spacing);
      }
      await Promise.all(pending);
    })();
    const withCold = await measureWindow(ctx, seconds, subscribers);
    const loopWith = await server.loopDelayEnd();
    await requests;
    times.sort((a, b) => a - b);
    const p50 = sig(percentile(times, 50));
    const p99 = sig(percentile(times, 99));
    env.log(`  on-demand: cold symbol -> historical p50 ${p50} p99 ${p99} max ${sig(times.at(-1)!)} ms over ${times.length}; others with cold requests p50 ${withCold.latency.p50Ms} p99 ${withCold.latency.p99Ms} ms; engine loop delay p99 ${loopWith.p99Ms} max ${loopWith.maxMs} ms`);
    if (!allLoading) env.log('  on-demand: WARNING some cold requests got no loading message (already live?)');
    const rows: Row[] = [
      { scenario: 'on-demand', metric: `cold symbol -> historical, p50 (${COLD} symbols)`, unit: 'ms', better: 'lower', values: { engine: p50 } },
      { scenario: 'on-demand', metric: `cold symbol -> historical, p99 (${COLD} symbols)`, unit: 'ms', better: 'lower', values: { engine: p99 }, target: { engineMax: 2000, label: 'engine < 2 s' } },
      { scenario: 'on-demand', metric: `${clients} other clients, ${symbols} symbols, ${BINANCE_PACE}/s: p99 without cold requests`, unit: 'ms', better: 'lower', values: { engine: without.latency.p99Ms } },
      { scenario: 'on-demand', metric: `${clients} other clients, ${symbols} symbols, ${BINANCE_PACE}/s: p99 during cold requests`, unit: 'ms', better: 'lower', values: { engine: withCold.latency.p99Ms }, note: 'target: unchanged' },
      { scenario: 'on-demand', metric: 'engine event-loop delay max, without cold requests', unit: 'ms', better: 'lower', values: { engine: loopWithout.maxMs } },
      { scenario: 'on-demand', metric: 'engine event-loop delay max, during cold requests', unit: 'ms', better: 'lower', values: { engine: loopWith.maxMs } },
    ];
    const { latencyHistogram: _a, ...w0 } = without;
    const { latencyHistogram: _b, ...w1 } = withCold;
    return { rows, data: { coldMs: times, allLoading, without: { ...w0, loopDelay: loopWithout }, withCold: { ...w1, loopDelay: loopWith } } };
  } finally {
    for (const ws of opened) ws.terminate();
    await upstream.feed(undefined).catch(() => {});
    await env.pool.disconnect().catch(() => {});
    await server.stop();
    await upstream.stop();
  }
}
