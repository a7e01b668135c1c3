/**
 * A/B of the engine's fan-out cost on a shared machine: engine checkouts measured in the same session
 * at one fixed, sustainable load, interleaved A, B, A, B, … (the order alternating each round) so that
 * other work on the machine weighs on every side alike. Reports each engine server's CPU per upstream
 * update (and per delivered message), and the ratio of the medians of every side to A.
 *
 *   npx tsx bench/ab-fanout.ts --a /path/to/old/checkout [--b .] [--c /another/checkout] [--clients 100]
 *       [--symbols 20] [--rate 256] [--rounds 4] [--windows 3] [--seconds 4] [--ceiling] [--profile dir]
 *
 * `--a`/`--b`/`--c` are repository roots; each one's bench/servers/engine.ts (and so its engine) is run.
 * `--ceiling` adds the bare uWS server (bench/servers/ceiling.ts) as one more side, U.
 * `--profile dir` writes a V8 CPU profile of every server to dir/<side>.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LoadPool } from './load/load-pool.ts';
import { sleep } from './lib/clock.ts';
import { measureWindow, sampleEvery } from './lib/measure.ts';
import { ServerUnderTest } from './lib/server-under-test.ts';
import { median } from './lib/stats.ts';
import { BENCH_SYMBOLS } from './lib/symbols.ts';
import { Upstream } from './lib/upstream.ts';
import { connectClients } from './scenarios/context.ts';
import type { BenchEnv } from './scenarios/context.ts';

const { values: args } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    c: { type: 'string' },
    clients: { type: 'string', default: '100' },
    symbols: { type: 'string', default: '20' },
    rate: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '4' },
    windows: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    profile: { type: 'string' },
    ceiling: { type: 'boolean', default: false },
  },
});
if (!args.a) throw new Error('--a <checkout of the engine to compare against> is required');
const clients = Number(args.clients);
const symbols = Number(args.symbols);
const rate = Number(args.rate);
const rounds = Number(args.rounds);
const windows = Number(args.windows);
const seconds = Number(args.seconds);
type Side = 'A' | 'B' | 'C' | 'U';
const variants: Partial<Record<Side, string>> = {
  A: resolve(args.a),
  B: resolve(args.b!),
  ...(args.c ? { C: resolve(args.c) } : {}),
  ...(args.ceiling ? { U: 'ceiling' } : {}),
};
const sides = Object.keys(variants) as Side[];

const t0 = Date.now();
const log = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const upstream = await Upstream.start({ symbols: BENCH_SYMBOLS, seed: 42, pushIntervalMs: 250 });
const pool = await LoadPool.start(2);
const env: BenchEnv = {
  upstream,
  pool,
  symbols: BENCH_SYMBOLS,
  results: new Map(),
  log,
  opts: { quick: false, repeats: 1, rampRepeats: 1, soakSeconds: 0, servers: ['engine'], profileDir: undefined, deadline: Infinity },
};

interface Sample {
  round: number;
  usPerUpdate: number;
  usPerMsg: number;
  ratio: number;
  foreign: number;
}
const samples: Record<Side, Sample[]> = { A: [], B: [], C: [], U: [] };

log(`${sides.map((v) => `${v} = ${variants[v]}`).join(', ')}; C=${clients} S=${symbols} at ${rate}/s per stream; ${rounds} rounds of ${windows} x ${seconds} s windows`);
try {
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so a trend in the machine's load does not favour one side.
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const v of order) {
      const server = await ServerUnderTest.start(v === 'U' ? 'ceiling' : 'engine', {
        restUrl: upstream.restUrl,
        wsUrl: upstream.wsUrl,
        symbols: BENCH_SYMBOLS.slice(0, symbols),
        entry: v === 'U' ? undefined : `${variants[v]}/bench/servers/engine.ts`,
        cpuProfileDir: args.profile ? `${args.profile}/${v}` : undefined,
      });
      try {
        const { subscribers } = await connectClients(env, server, symbols, clients, rate);
        await pool.sample(sampleEvery(clients, rate));
        await sleep(2000);
        for (let w = 0; w < windows; w++) {
          const win = await measureWindow({ upstream, pool, server }, seconds, subscribers, { pauseAfter: w === windows - 1 });
          const s: Sample = {
            round: r,
            usPerUpdate: (win.cpu.server * 1e6) / win.upstreamPerS,
            usPerMsg: (win.cpu.server * 1e6) / win.deliveredPerS,
            ratio: win.ratio,
            foreign: win.cpu.foreign,
          };
          samples[v].push(s);
          log(`  round ${r + 1} ${v}: ${s.usPerUpdate.toFixed(1)} µs/update, ${s.usPerMsg.toFixed(2)} µs/msg, server ${(win.cpu.server * 100).toFixed(0)} % of a core, delivered ${(s.ratio * 100).toFixed(1)} %, p99 ${win.latency.p99Ms} ms, foreign ${s.foreign.toFixed(2)} cores`);
        }
      } finally {
        await upstream.feed(undefined);
        await upstream.setRate(0);
        await pool.disconnect().catch(() => {});
        await server.stop();
      }
    }
  }
} finally {
  await pool.stop();
  await upstream.stop();
}

const med = (v: Side, f: (s: Sample) => number) => median(samples[v].map(f));
for (const v of sides) {
  log(`${v}: median ${med(v, (s) => s.usPerUpdate).toFixed(1)} µs of server CPU per upstream update, ${med(v, (s) => s.usPerMsg).toFixed(2)} µs per delivered msg, delivered ${(med(v, (s) => s.ratio) * 100).toFixed(1)} % (${samples[v].length} windows)`);
}
for (const v of sides.filter((x) => x !== 'A')) {
  // Paired too: the ratio within each round (same stretch of machine load), then their median.
  const paired = median(Array.from({ length: rounds }, (_, r) => median(samples[v].filter((s) => s.round === r).map((s) => s.usPerUpdate)) / median(samples.A.filter((s) => s.round === r).map((s) => s.usPerUpdate))));
  log(`${v}/A per upstream update: ${(med(v, (s) => s.usPerUpdate) / med('A', (s) => s.usPerUpdate)).toFixed(2)} (median of per-round ratios ${paired.toFixed(2)}), per delivered msg: ${(med(v, (s) => s.usPerMsg) / med('A', (s) => s.usPerMsg)).toFixed(2)}`);
}
if (variants.U) {
  for (const v of sides.filter((x) => x !== 'U')) log(`${v}/ceiling per upstream update: ${(med(v, (s) => s.usPerUpdate) / med('U', (s) => s.usPerUpdate)).toFixed(2)}`);
}
