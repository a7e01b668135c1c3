/**
 * Probe (not a bench scenario): an outage of the exchange as the engine's upstream sees it. ROLE=all
 * on the simulator (in process, memory store), N symbols at 1m in shards of PER streams; each round
 * the simulator refuses every connection for OUTAGE_S seconds and drops the open ones. Counts the
 * connection attempts the engine made during the outage (Binance allows 300 per 5 minutes per IP) and
 * times, from the moment the exchange answers again, until every shard is connected.
 *
 *   N=400 PER=50 OUTAGE_S=45 ROUNDS=3 npx tsx bench/probes/outage-reconnect.ts
 *
 * Prints one JSON line per round.
 */
import { startApp } from '../../engine/src/app.ts';
import { silentLogger } from '../../engine/src/log.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = Number(process.env.N ?? 400);
const PER = Number(process.env.PER ?? 50);
const OUTAGE_MS = Number(process.env.OUTAGE_S ?? 45) * 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 3);

const app = await startApp({
  port: 0,
  host: '127.0.0.1',
  clientDir: '',
  seriesDir: '',
  log: silentLogger,
  source: 'sim',
  simOptions: { universeSize: N, pushIntervalMs: 2000 },
  symbols: ['*'],
  intervals: ['1m'],
  streamsPerConnection: PER,
});
await app.ready;
const sim = app.sim!;
const shards = async () => {
  const st = app.shards.stats();
  return { all: st.length, up: st.filter((x) => x.connected).length };
};
for (let round = 0; round < ROUNDS; round++) {
  for (let s = await shards(); s.up < s.all; s = await shards()) await sleep(200);
  const before = sim.stats.wsConnectAttempts;
  sim.faults.refuseConnections(OUTAGE_MS);
  sim.faults.dropConnections();
  await sleep(OUTAGE_MS);
  const during = sim.stats.wsConnectAttempts - before;
  const back = performance.now();
  let s = await shards();
  for (; s.up < s.all; s = await shards()) await sleep(100);
  console.log(JSON.stringify({ round, shards: s.all, outageS: OUTAGE_MS / 1000, attemptsDuringOutage: during, secondsToAllShardsBack: Number(((performance.now() - back) / 1000).toFixed(2)) }));
  await sleep(5000);
}
await app.stop();
process.exit(0);
