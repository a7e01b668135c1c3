import type { CpuSplit } from '../lib/pin.ts';
import type { LoadPool } from '../load/load-pool.ts';
import { type ServerKind, type ServerStartOptions, ServerUnderTest } from '../lib/server-under-test.ts';
import type { Upstream } from '../lib/upstream.ts';
import { clientPaths, type MeasuredServer, sampleEvery } from '../lib/measure.ts';

export interface BenchOptions {
  quick: boolean;
  /** Runs per figure; each figure is the median of them. */
  repeats: number;
  /** Fan-out ramps per server and configuration (a ramp is long; its steps are the measurements). */
  rampRepeats: number;
  /** Clients of the cluster's saturation ramp (`--cluster-clients`); its default otherwise. */
  clusterClients?: number;
  soakSeconds: number;
  servers: ServerKind[];
  /** Write a V8 CPU profile of every engine process (one file per process) here. */
  profileDir: string | undefined;
  /** The run stops starting new measurements after this (epoch ms); scenarios note what they skipped. */
  deadline: number;
  /** `--pin`: the cluster's systems under test on some cores, the load generator on the others (see pin.ts). */
  pin?: CpuSplit;
}

/** One line of the results table: a figure per server, and the target it is held to. */
export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  /** 'higher' or 'lower' is better (ratios are always engine / reference). */
  better: 'higher' | 'lower';
  values: Partial<Record<ServerKind, number>>;
  /** Targets on the ratios engine/ceiling and engine/ws-baseline (for 'lower' metrics: the ratio is at most this). */
  target?: { vsCeiling?: number; vsBaseline?: number; engineMax?: number; engineMin?: number; label: string };
  note?: string;
}

export interface ScenarioOutput {
  rows: Row[];
  /** Everything measured, for the JSON file. */
  data: unknown;
  /** What limited the figures (for BENCHMARKS.md). */
  limits?: string[];
}

export interface BenchEnv {
  upstream: Upstream;
  pool: LoadPool;
  opts: BenchOptions;
  /** The symbols the simulator serves; scenarios use prefixes of this list. */
  symbols: string[];
  /** Results of earlier scenarios in this run (latency reads the fan-out saturation rate). */
  results: Map<string, ScenarioOutput>;
  log(msg: string): void;
}

export type Scenario = (env: BenchEnv) => Promise<ScenarioOutput>;

/** Starts a server under test, runs `fn`, then always disconnects the clients and stops the server. */
export async function withServer<T>(env: BenchEnv, kind: ServerKind, opts: Omit<ServerStartOptions, 'restUrl' | 'wsUrl'>, fn: (s: ServerUnderTest) => Promise<T>): Promise<T> {
  const cpuProfileDir = kind === 'engine' ? env.opts.profileDir : undefined;
  const server = await ServerUnderTest.start(kind, { restUrl: env.upstream.restUrl, wsUrl: env.upstream.wsUrl, cpuProfileDir, ...opts });
  try {
    return await fn(server);
  } finally {
    await env.pool.disconnect().catch(() => {});
    await server.stop();
  }
}

export function timeLeft(env: BenchEnv): boolean {
  return Date.now() < env.opts.deadline;
}

/**
 * Connects `clients` spread over the first `symbols` symbols to `server`, sets the relay to `rate`
 * updates/s per stream, feeds the clients its send times and samples their latency for that rate.
 */
export async function connectClients(env: BenchEnv, server: MeasuredServer, symbols: number, clients: number, rate: number) {
  const { paths, subscribers } = clientPaths(env.symbols.slice(0, symbols), clients);
  await env.upstream.setRate(rate);
  const conn = await env.pool.connect(server.url, paths, { concurrency: 256, timeoutMs: 60_000 });
  await env.upstream.feed(env.pool);
  await env.pool.sample(sampleEvery(clients, rate));
  return { subscribers, conn };
}
