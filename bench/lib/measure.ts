import { summarize, type Histogram, type LatencySummary } from './histogram.ts';
import os from 'node:os';
import { cpuShare, machineBusyCores, machineSample, procSample, type ProcSample } from './proc-stats.ts';
import { sleep } from './clock.ts';
import type { LoadPool } from '../load/load-pool.ts';
import type { Upstream } from './upstream.ts';

export interface CpuShares {
  /** Fraction of one core used by each side during the window. */
  server: number;
  clients: number;
  upstream: number;
  harness: number;
  /** Cores busy on the whole machine (kernel networking included), 0..cores. */
  machine: number;
  /** Cores used by processes that are not part of the bench (other work on a shared machine). */
  foreign: number;
  /** Fraction of a core used by the server's companions (a cluster's ingest node and Redis); 0 without. */
  companions: number;
}

export interface WindowStats {
  seconds: number;
  /** Updates the relay sent, per second, over all streams. */
  upstreamPerS: number;
  /** Messages the clients should have received: Σ over streams of sent × subscribers. */
  expected: number;
  delivered: number;
  deliveredPerS: number;
  /** delivered / expected (1 = every update reached every subscriber). */
  ratio: number;
  latency: LatencySummary;
  latencyHistogram: Histogram;
  unmatched: number;
  closes: Record<string, number>;
  cpu: CpuShares;
  serverRssBytes: number;
}

/** The process clients connect to (a ServerUnderTest, or a cluster's edge node). */
export interface MeasuredServer {
  readonly kind: string;
  /** ws://host:port */
  readonly url: string;
  readonly pid: number;
  sample(): ProcSample | undefined;
}

export interface MeasureContext {
  upstream: Upstream;
  pool: LoadPool;
  server: MeasuredServer;
  /** Other processes of the system under test (a cluster's ingest node and Redis): counted, not taken for foreign work. */
  companions?: readonly number[];
}

/** Stream name of a symbol's 1m series, as the relay counts it. */
/** Time given to updates in flight to arrive after a paused window. */
const DRAIN_MS = 300;

export const streamOf = (symbol: string, interval = '1m') => `${symbol.toLowerCase()}@kline_${interval}`;

/**
 * One measurement window: counts what the relay sent and what the clients received, the latency of
 * the sampled updates, and the CPU each process used (read from /proc, so a saturated process is
 * measured without asking it anything).
 */
export async function measureWindow(ctx: MeasureContext, seconds: number, subscribers: ReadonlyMap<string, number>, opts: { pauseAfter?: boolean } = {}): Promise<WindowStats> {
  const pids = { server: [ctx.server.pid], clients: ctx.pool.pids, upstream: [ctx.upstream.pid], companions: [...(ctx.companions ?? [])] };
  const sampleAll = () => Object.fromEntries(Object.entries(pids).map(([k, list]) => [k, list.map(procSample)]));
  await Promise.all([ctx.upstream.windowStart(), ctx.pool.windowStart(seconds)]);
  const before = sampleAll();
  const harness0 = process.cpuUsage();
  const machine0 = machineSample();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = sampleAll();
  const machine = machineBusyCores(machine0, machineSample(), os.cpus().length);
  const h = process.cpuUsage(harness0);
  const elapsed = (performance.now() - t0) / 1000;
  const up = await ctx.upstream.windowEnd();
  // Stop the flow and let what is in flight arrive: a client that keeps up has then received every
  // update sent in the window; one that is behind has not (its backlog does not drain this fast).
  // Without the pause, updates in flight at the window's end would count as missing.
  if (opts.pauseAfter) {
    await ctx.upstream.setRate(0);
    await sleep(DRAIN_MS);
  }
  const got = await ctx.pool.windowEnd();
  const share = (k: keyof typeof pids) => pids[k].reduce((s, _pid, i) => s + (cpuShare(before[k]![i], after[k]![i]) || 0), 0);
  const cpu = { server: share('server'), clients: share('clients'), upstream: share('upstream'), harness: (h.user + h.system) / 1e6 / elapsed, machine: machine.busy, foreign: 0, companions: share('companions') };
  cpu.foreign = Math.max(0, machine.busy - machine.irq - cpu.server - cpu.clients - cpu.upstream - cpu.harness - cpu.companions);
  let expected = 0;
  let sent = 0;
  for (const [stream, n] of Object.entries(up.sent)) {
    sent += n;
    expected += n * (subscribers.get(stream) ?? 0);
  }
  return {
    seconds: up.seconds,
    upstreamPerS: sent / up.seconds,
    expected,
    delivered: got.delivered,
    deliveredPerS: got.delivered / up.seconds,
    ratio: expected === 0 ? NaN : (opts.pauseAfter ? got.deliveredAll : got.delivered) / expected,
    latency: summarize(got.latency),
    latencyHistogram: got.latency,
    unmatched: got.unmatched,
    closes: got.closes,
    cpu,
    serverRssBytes: ctx.server.sample()?.rssBytes ?? NaN,
  };
}

/** Client paths spreading `clients` over the first `symbols` symbols, and the subscriber count per stream. */
export function clientPaths(symbols: readonly string[], clients: number): { paths: string[]; subscribers: Map<string, number> } {
  const paths: string[] = [];
  const subscribers = new Map<string, number>();
  for (let i = 0; i < clients; i++) {
    const s = symbols[i % symbols.length]!;
    paths.push(`/ws/${s}?interval=1m`);
    subscribers.set(streamOf(s), (subscribers.get(streamOf(s)) ?? 0) + 1);
  }
  return { paths, subscribers };
}

/** Times one update in `every` per client, so the workers parse at most ~`budget` messages per second. */
export function sampleEvery(clients: number, ratePerStream: number, budget = 20_000): number {
  return Math.max(1, Math.ceil((clients * ratePerStream) / budget));
}
