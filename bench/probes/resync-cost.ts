/**
 * Probe (not a bench scenario): REST requests a drop of every upstream connection costs. ROLE=all on
 * the simulator (in process, memory store) with SYMBOLS=* over a universe of N symbols × 4 intervals;
 * each round waits for the exchange's second 10–40 of a minute, drops every connection and counts the
 * simulator's REST requests over the next 15 s.
 *
 *   N=300 ROUNDS=3 npx tsx bench/probes/resync-cost.ts
 *
 * Prints one JSON line per round.
 */
import { startApp } from '../../engine/src/app.ts';
import { silentLogger } from '../../engine/src/log.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = Number(process.env.N ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const INTERVALS = ['1m', '5m', '1h', '1d'];

const app = await startApp({
  port: 0,
  host: '127.0.0.1',
  clientDir: '',
  seriesDir: '',
  log: silentLogger,
  source: 'sim',
  simOptions: { universeSize: N, pushIntervalMs: 2000 },
  symbols: ['*'],
  intervals: INTERVALS,
  restWeightBudget: 60_000,
});
await app.ready;
const sim = app.sim!;
for (let round = 0; round < ROUNDS; round++) {
  for (let s = new Date(sim.now()).getUTCSeconds(); s < 10 || s > 40; s = new Date(sim.now()).getUTCSeconds()) await sleep(500);
  const second = new Date(sim.now()).getUTCSeconds();
  const before = sim.stats.restRequests;
  sim.faults.dropConnections();
  await sleep(15_000);
  console.log(JSON.stringify({ round, series: app.catalog.configured().length * INTERVALS.length, droppedAtSecond: second, restRequestsIn15s: sim.stats.restRequests - before }));
}
await app.stop();
process.exit(0);
