import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { gapsUnfilled, holeWithFailingFill } from '../../helpers/failing-fill.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedisServer } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient, type WireCandle } from '../../helpers/ws-client.ts';

/**
 * A hole whose REST fill kept failing is repaired later (GAP_REPAIR_AFTER_MS). Its bars used to go
 * to the store only: a chart open all day never got them, and in a cluster they never reached Redis
 * (the leader writes what the pipeline publishes), so every edge's clients and snapshots kept the
 * hole. Now they go out as `live_candle`s older than the newest, on both roles.
 */
const M = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const common = { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300, historyOnConnect: 200, gapRepairAfterMs: 1000 };
// One 1m bar a second: a 4 s pause is a hole of a few bars.
const simOptions = { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 };

/** Bars older than the newest the client had when they came: what the repair sent. */
function lateBars(client: EngineClient): number[] {
  let newest = Math.max(...(client.historical()?.data ?? []).map((c) => c.time));
  const late: number[] = [];
  for (const m of client.live()) {
    if (m.time < newest) late.push(m.time);
    newest = Math.max(newest, m.time);
  }
  return late;
}

/**
 * What a new client (or a chart reloading) reads has no hole, and the connected client's series
 * (historical then every live update by time) is whole, its closed bars the exchange's.
 */
async function wholeAndTrue(sim: SimExchange, client: EngineClient, bars: () => Promise<WireCandle[]>): Promise<void> {
  const holes = (xs: WireCandle[]) => xs.slice(1).filter((c, i) => c.time - xs[i]!.time !== M).map((c) => c.time);
  for (const deadline = Date.now() + 30_000; holes(await bars()).length; await sleep(200)) {
    if (Date.now() > deadline) throw new Error(`what is served still lacks ${holes(await bars()).join(', ')}`);
  }
  await client.until((c) => holes(c.merged()).length === 0 && lateBars(c).length > 0, 30_000, 'the hole repaired on the client');
  const closed = client.merged().filter((c) => c.is_closed);
  const truth = sim.truth('BTCUSDT', '1m', closed[0]!.time, closed.at(-1)!.time);
  expect(closed.map((c) => [c.time, c.open, c.high, c.low, c.close, c.volume])).toEqual(truth.map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume]));
}

const candles = async (url: string) => ((await (await fetch(`${url}/candles/BTCUSDT/1m?limit=200`)).json()) as { candles: WireCandle[] }).candles;

describe('a hole repaired late reaches live clients (ROLE=all)', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions, seriesDir: '', ...common });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('sends the repaired bars to a connected client, in its series with no hole', async () => {
    const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    try {
      await client.until((c) => c.live().length >= 3, 15_000, 'live bars');
      await holeWithFailingFill(app.sim!, gapsUnfilled(app.url));
      await wholeAndTrue(app.sim!, client, () => candles(app.url));
    } finally {
      client.close();
    }
  }, 60_000);
});

const redisUp = await hasRedisServer('a hole repaired late in a cluster');

describe.runIf(redisUp)('a hole repaired late reaches Redis and the edges (in-process cluster, DB 15)', () => {
  let cluster: InProcessCluster;
  beforeAll(async () => {
    cluster = await startInProcessCluster({ name: 'gaprepair', common, ingest: { simOptions, leaseTtlMs: 1500 } });
    await cluster.edgeReady();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it("sends the repaired bars to the edge's client and into what the edge serves", async () => {
    const client = cluster.client('/ws/BTCUSDT?interval=1m');
    const sim = cluster.ingest.app.sim!;
    await client.until((c) => c.live().length >= 3, 15_000, 'live bars');
    await holeWithFailingFill(sim, gapsUnfilled(cluster.ingest.app.url));
    await wholeAndTrue(sim, client, () => candles(cluster.edge.url));
  }, 60_000);
});
