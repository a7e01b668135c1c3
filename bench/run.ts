/**
 * `npm run bench`: every scenario against the engine and the two reference servers, in one run, on
 * one upstream (simulated exchange + pacing relay). Prints a table and writes bench/results/<date>.json.
 *
 *   --quick             small sizes (smoke run, ~2 min)
 *   --only a,b          scenarios: fanout, latency, storm, memory, soak, slow, ingest, quant, store, on-demand, universe, cluster
 *                       (cluster-saturation, cluster-pace, cluster-failover: one part of cluster)
 *   --repeat N          runs per figure (median), default 3 (1 with --quick)
 *   --ramp-repeat N     fan-out ramps per server and configuration (median), default 1
 *   --cluster-clients N clients of cluster-saturation (20 streams), default 1000 (500 with --quick)
 *   --soak SECONDS      soak length, default 60 (10 with --quick)
 *   --servers a,b       subset of engine, ceiling, ws-baseline
 *   --workers N         load-generator processes, default 2
 *   --profile           write V8 CPU profiles of the engine processes to bench/results/profiles/<date>/
 *   --budget MINUTES    stop starting new measurements after this long, default 14
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSplit, pin } from './lib/pin.ts';
import { LoadPool } from './load/load-pool.ts';
import { machineInfo } from './lib/machine.ts';
import { type Neighbour, busyNeighbours, neighboursText } from './lib/neighbours.ts';
import { SERVER_KINDS, type ServerKind } from './lib/server-under-test.ts';
import { renderTable, withRatios } from './lib/table.ts';
import { Upstream } from './lib/upstream.ts';
import { connectStorm } from './scenarios/connect-storm.ts';
import type { BenchEnv, BenchOptions, Scenario, ScenarioOutput } from './scenarios/context.ts';
import { fanout } from './scenarios/fanout.ts';
import { ingest } from './scenarios/ingest.ts';
import { latency } from './scenarios/latency.ts';
import { idleMemory, soak } from './scenarios/memory.ts';
import { slowConsumer } from './scenarios/slow-consumer.ts';
import { universe } from './scenarios/universe.ts';
import { storeMemory } from './scenarios/universe-memory.ts';
import { onDemand } from './scenarios/on-demand.ts';
import { quant } from './quant/quant.ts';
import { cluster, clusterFailover, clusterPace, clusterSaturation } from './scenarios/cluster.ts';
import { BENCH_SYMBOLS } from './lib/symbols.ts';

const SCENARIOS: Record<string, Scenario> = { fanout, latency, storm: connectStorm, memory: idleMemory, slow: slowConsumer, soak, ingest, quant, store: storeMemory, 'on-demand': onDemand, universe, cluster, 'cluster-saturation': clusterSaturation, 'cluster-pace': clusterPace, 'cluster-failover': clusterFailover };

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    repeat: { type: 'string' },
    'ramp-repeat': { type: 'string', default: '1' },
    'cluster-clients': { type: 'string' },
    soak: { type: 'string' },
    servers: { type: 'string' },
    workers: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    budget: { type: 'string', default: '14' },
    pin: { type: 'boolean', default: false },
  },
});

const only = args.only?.split(',').map((s) => s.trim()) ?? Object.keys(SCENARIOS);
for (const s of only) if (!SCENARIOS[s]) throw new Error(`--only: unknown scenario '${s}' (known: ${Object.keys(SCENARIOS).join(', ')})`);
const servers = (args.servers?.split(',').map((s) => s.trim()) ?? [...SERVER_KINDS]) as ServerKind[];
for (const s of servers) if (!SERVER_KINDS.includes(s)) throw new Error(`--servers: unknown server '${s}'`);
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const startedAt = new Date();
const opts: BenchOptions = {
  quick: args.quick!,
  repeats: Math.max(1, Number(args.repeat ?? (args.quick ? 1 : 3))),
  rampRepeats: Math.max(1, Number(args['ramp-repeat'])),
  clusterClients: args['cluster-clients'] === undefined ? undefined : Math.max(20, Number(args['cluster-clients'])),
  soakSeconds: Math.max(5, Number(args.soak ?? (args.quick ? 10 : 60))),
  servers,
  profileDir: args.profile ? `${resultsDir}profiles/${startedAt.toISOString().replace(/[:.]/g, '-')}` : undefined,
  deadline: startedAt.getTime() + Number(args.budget) * 60_000,
  pin: args.pin ? cpuSplit() : undefined,
};

const log = (msg: string) => process.stdout.write(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const machine = machineInfo();
log(`bench: ${only.join(', ')} on ${servers.join(', ')}; ${machine.cores} cores (${machine.cpuModel}), node ${machine.node}, uWS ${machine.uws}; repeats ${opts.repeats} (fan-out ramps ${opts.rampRepeats})${opts.quick ? ', quick' : ''}`);

// Sampled before anything of the bench's runs, and again after: see busyNeighbours.
const neighbours: { before: Neighbour[]; after?: Neighbour[] } = { before: await busyNeighbours() };
const warnNeighbours = (ns: readonly Neighbour[]) => {
  const text = neighboursText(ns);
  if (text) log(`WARNING: ${text}`);
};
warnNeighbours(neighbours.before);

const upstream = await Upstream.start({ symbols: BENCH_SYMBOLS, seed: 42, pushIntervalMs: 250 });
const pool = await LoadPool.start(Math.max(1, Number(args.workers)));
if (opts.pin) {
  pin([...pool.pids, upstream.pid, process.pid], opts.pin.load);
  log(`pinned: systems under test on CPU ${opts.pin.servers}, load generator on CPU ${opts.pin.load} (cluster scenario)`);
}
const results = new Map<string, ScenarioOutput>();
const env: BenchEnv = { upstream, pool, opts, symbols: BENCH_SYMBOLS, results, log };
const errors: Record<string, string> = {};
try {
  for (const name of only) {
    if (Date.now() > opts.deadline) {
      errors[name] = 'skipped: time budget exhausted';
      log(`${name}: skipped (time budget)`);
      continue;
    }
    log(`${name}...`);
    try {
      results.set(name, await SCENARIOS[name]!(env));
    } catch (e) {
      errors[name] = (e as Error).stack ?? String(e);
      log(`${name} FAILED: ${(e as Error).message}`);
    }
  }
} finally {
  await pool.stop();
  await upstream.stop();
}
neighbours.after = await busyNeighbours();
warnNeighbours(neighbours.after);

const rows = [...results.values()].flatMap((r) => r.rows).map(withRatios);
const table = renderTable(rows, servers);
const elapsedS = Math.round((Date.now() - startedAt.getTime()) / 1000);
process.stdout.write(`\n${table}\n\n`);
const limits = [...results.values()].flatMap((r) => r.limits ?? []);
if (limits.length) process.stdout.write(`What limited each fan-out ramp:\n${limits.map((l) => `  ${l}`).join('\n')}\n`);
mkdirSync(resultsDir, { recursive: true });
const file = `${resultsDir}${startedAt.toISOString().replace(/[:.]/g, '-')}${opts.quick ? '-quick' : ''}.json`;
const command = `npm run bench --${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`;
writeFileSync(file, JSON.stringify({ startedAt, elapsedS, command, machine, neighbours, options: opts, rows, limits, errors, scenarios: Object.fromEntries(results) }, null, 1));
log(`done in ${elapsedS} s; wrote ${file}`);
if (Object.keys(errors).length) {
  process.stdout.write(`errors:\n${Object.entries(errors).map(([k, v]) => `  ${k}: ${v.split('\n')[0]}`).join('\n')}\n`);
  process.exitCode = 1;
}
