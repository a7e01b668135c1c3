import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { gapsUnfilled, holeWithFailingFill, wholeAndTrue } from '../../helpers/failing-fill.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';
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
// 2m is a custom interval, resampled from 1m: its buckets the hole touched are rebuilt too.
const common = { symbols: ['BTCUSDT'], intervals: ['1m', '2m'], bufferSize: 300, historyOnConnect: 200, gapRepairAfterMs: 1000 };
// One 1m bar a second: a 4 s pause is a hole of a few bars.
const simOptions = { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 };

/** The custom 2m series on `client` is whole once repaired, each closed bar built from the exchange's 1m bars. */
async function customWholeAndTrue(sim: SimExchange, client: EngineClient): Promise<void> {
  const closedOf = (c: EngineClient) => c.merged().filter((b) => b.is_closed);
  const built = (bars: WireCandle[]) => {
    const truth = sim.truth('BTCUSDT', '1m', bars[0]!.time, bars.at(-1)!.time + M);
    return bars.map((b) => {
      const ins = truth.filter((t) => t.openTime >= b.time && t.openTime < b.time + 2 * M);
      return [b.time, ins[0]?.open, Math.max(...ins.map((t) => t.high)), Math.min(...ins.map((t) => t.low)), ins.at(-1)?.close, ins.reduce((v, t) => v + t.volume, 0)];
    });
  };
  const row = (b: WireCandle) => [b.time, b.open, b.high, b.low, b.close, b.volume];
  const same = (c: EngineClient) => JSON.stringify(closedOf(c).map(row)) === JSON.stringify(built(closedOf(c)));
  await client.until((c) => closedOf(c).length > 3 && same(c), 30_000, 'the 2m series rebuilt from the repaired 1m bars').catch(() => undefined);
  const closed = closedOf(client);
  expect(closed.slice(1).filter((b, i) => b.time - closed[i]!.time !== 2 * M)).toEqual([]);
  expect(closed.map(row)).toEqual(built(closed));
}

type Point = { time: number; value?: number; is_closed?: boolean };

/** A client's rsi points as a chart holds them: its snapshot's, then every `series_point` upserted by time. */
function heldPoints(c: EngineClient): Map<number, Point> {
  const held = new Map<number, Point>();
  for (const m of c.messages as unknown as Array<{ type: string; name?: string; series?: Record<string, Point[]> } & Point>) {
    if (m.type === 'historical') for (const p of m.series?.rsi ?? []) held.set(p.time, p);
    else if (m.type === 'series_point' && m.name === 'rsi') held.set(m.time, { time: m.time, value: m.value, is_closed: m.is_closed });
  }
  return held;
}

/**
 * The derived series' kept points (a new client's snapshot) equal what the engine computes for the
 * same bars now (GET /series, from the whole window): the instance took the repaired bars. And the
 * chart open through the repair (`open`) holds the same points: the corrected and inserted ones were
 * sent to it, not kept for its next snapshot.
 */
async function derivedTakesRepair(url: string, open: EngineClient): Promise<void> {
  const kept = async () => {
    const c = new EngineClient(`${url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=rsi`);
    try {
      await c.until((x) => x.historical() !== undefined, 10_000, 'historical');
      return ((c.historical() as unknown as { series: Record<string, Point[]> }).series.rsi ?? []).filter((p) => p.is_closed);
    } finally {
      c.close();
    }
  };
  const computed = async (n: number) => ((await (await fetch(`${url}/series/rsi/BTCUSDT/1m?limit=${n}`)).json()) as { points: Point[] }).points;
  const compare = async () => {
    const k = (await kept()).slice(-100);
    const byTime = new Map((await computed(150)).map((p) => [p.time, p.value]));
    return k.map((p) => [p.time, p.value, byTime.get(p.time)]).filter(([, a, b]) => b !== undefined && a !== b);
  };
  for (const deadline = Date.now() + 20_000; (await compare()).length; await sleep(500)) {
    if (Date.now() > deadline) break;
  }
  expect(await compare()).toEqual([]);
  // The open chart: every closed point a new client's snapshot has, with the same value (its newest
  // few may still be on their way).
  const differs = async () => {
    const held = heldPoints(open);
    return (await kept())
      .slice(-100, -3)
      .map((p) => [p.time, p.value, held.get(p.time)?.value])
      .filter(([, a, b]) => a !== b);
  };
  for (const deadline = Date.now() + 10_000; (await differs()).length; await sleep(500)) {
    if (Date.now() > deadline) break;
  }
  expect(await differs()).toEqual([]);
}

const candles = async (url: string) => ((await (await fetch(`${url}/candles/BTCUSDT/1m?limit=200`)).json()) as { candles: WireCandle[] }).candles;

describe('a hole repaired late reaches live clients (ROLE=all)', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions, seriesDir: 'series', ...common });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('sends the repaired bars to a connected client, in its series with no hole, the custom interval and the derived series built on it taking them too', async () => {
    const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    const custom = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=2m`);
    // A derived series live on the series through the hole.
    const derived = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=rsi`);
    try {
      await client.until((c) => c.live().length >= 3, 15_000, 'live bars');
      await holeWithFailingFill(app.sim!, gapsUnfilled(app.url));
      await wholeAndTrue(app.sim!, client, () => candles(app.url));
      await customWholeAndTrue(app.sim!, custom);
      await derivedTakesRepair(app.url, derived);
    } finally {
      client.close();
      custom.close();
      derived.close();
    }
  }, 60_000);
});

const redisUp = await hasRedis('a hole repaired late in a cluster');

describe.runIf(redisUp)('a hole repaired late reaches Redis and the edges (in-process cluster, DB 15)', () => {
  let cluster: InProcessCluster;
  beforeAll(async () => {
    cluster = await startInProcessCluster({ name: 'gaprepair', common: { ...common, seriesDir: 'series' }, ingest: { simOptions, leaseTtlMs: 1500 } });
    await cluster.edgeReady();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it("sends the repaired bars to the edge's client and into what the edge serves, the custom interval and the derived series built on it taking them too", async () => {
    const client = cluster.client('/ws/BTCUSDT?interval=1m');
    const custom = cluster.client('/ws/BTCUSDT?interval=2m');
    const derived = cluster.client('/ws/BTCUSDT?interval=1m&series=rsi');
    const sim = cluster.ingest.app.sim!;
    await client.until((c) => c.live().length >= 3, 15_000, 'live bars');
    await holeWithFailingFill(sim, gapsUnfilled(cluster.ingest.app.url));
    await wholeAndTrue(sim, client, () => candles(cluster.edge.url));
    await customWholeAndTrue(sim, custom);
    await derivedTakesRepair(cluster.edge.url, derived);
  }, 90_000);
});
