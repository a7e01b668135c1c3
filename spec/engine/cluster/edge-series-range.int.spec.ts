import { request } from 'undici';
import { EngineClient } from '../../helpers/ws-client.ts';
import { NO_LEADER_GRACE_MS } from '../../../engine/src/cluster/leader-presence.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * `GET /series/…` ranges on a cluster edge, against ROLE=all on the same simulated exchange: the
 * edge computes them over the bars the cluster keeps in Redis (BUFFER_SIZE per series) with the same
 * anchored warm-up, so it gives the same points; candles or warm-up deeper than that it asks of the
 * leader (reproduced: `points: []` for every query, ema-cross's 300-bar warm-up reaching below an
 * edge's window; then a 422). Own redis-server,
 * the simulator, ROLE=all, one ingest node and one edge as child processes; `series/` definitions.
 */
const MIN = 60_000;
const BUFFER = 1000;
type Point = { time: number; is_closed: boolean; value?: number; values?: Record<string, number> };
type Answer = { status: number; body: { points?: Point[]; error?: string; code?: string } };

async function get(node: NodeProcess, path: string): Promise<Answer> {
  const res = await request(`${node.url}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, body: (await res.body.json()) as Answer['body'] };
}

const closed = (a: Answer) => (a.body.points ?? []).filter((p) => p.is_closed);

const redisUp = await hasRedisServer('GET /series ranges: an edge answers as ROLE=all (child processes)');

describe.runIf(redisUp)('GET /series ranges: an edge answers as ROLE=all (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  let all: NodeProcess;
  let ingest: NodeProcess;
  let edge: NodeProcess;

  /** The newest candle open time the edge serves. */
  const newest = async () => {
    const res = await request(`${edge.url}/candles/BTCUSDT/1m?limit=1`);
    const body = (await res.body.json()) as { candles: Array<{ time: number }> };
    return body.candles[0]!.time;
  };

  beforeAll(async () => {
    redis = await RedisProcess.start();
    // ETHUSDT: a cold symbol (never configured).
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100, clockSpeed: 60 });
    const env = { SYMBOLS: 'BTCUSDT', INTERVALS: '1m,1w', BUFFER_SIZE: String(BUFFER), HISTORY_ON_CONNECT: '50', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SERIES_DIR: 'series' };
    // ROLE=all on its own memory store: nothing shared with the cluster but the exchange.
    all = await NodeProcess.start('all', { ...env, ROLE: 'all' });
    ingest = await NodeProcess.start('ingest', { ...env, ROLE: 'ingest', REDIS_URL: redis.url, LEASE_TTL_MS: '1500' });
    await ingest.until((h) => h.status === 'ok' && h.leader === true, 90_000, 'ingest leads');
    edge = await NodeProcess.start('edge', { ...env, ROLE: 'edge', REDIS_URL: redis.url });
    await Promise.all([all.until((h) => h.status === 'ok', 90_000, 'all ready'), edge.until((h) => h.status === 'ok', 90_000, 'edge ready')]);
  }, 150_000);

  afterAll(async () => {
    await Promise.all([all, ingest, edge].filter(Boolean).map((n) => n.stop()));
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it('a range in the past (endTime) gives the same points on both, warm-up from the bars Redis keeps', async () => {
    const end = (await newest()) - 200 * MIN;
    for (const q of ['ema-cross/BTCUSDT/1m?limit=50', 'ema-cross/BTCUSDT/1m?limit=120&fast=5&slow=30', 'rsi/BTCUSDT/1m?limit=80', 'session-vwap/BTCUSDT/1m?limit=60&anchor=4h']) {
      const path = `/series/${q}&endTime=${end}`;
      const [a, e] = [await get(all, path), await get(edge, path)];
      expect(a.status, `${path} ${JSON.stringify(a.body)}`).toBe(200);
      expect(a.body.points!.length, path).toBeGreaterThan(0);
      expect(a.body.points!.at(-1)!.time, path).toBeLessThanOrEqual(end);
      expect(e, path).toEqual(a);
    }
  }, 60_000);

  it('a series younger than BUFFER_SIZE bars (weeks since the simulated listing): its bottom in Redis is its start, as on the exchange', async () => {
    const end = (await newest()) - 3 * 7 * 1440 * MIN;
    for (const q of ['ema-cross/BTCUSDT/1w?limit=100', 'ema-cross/BTCUSDT/1w?limit=1000', 'rsi/BTCUSDT/1w?limit=300']) {
      const path = `/series/${q}&endTime=${end}`;
      const [a, e] = [await get(all, path), await get(edge, path)];
      expect(a.status, `${path} ${JSON.stringify(a.body)}`).toBe(200);
      expect(a.body.points!.length, path).toBeGreaterThan(0);
      expect(e, path).toEqual(a);
    }
  }, 60_000);

  it('the newest range gives the same closed points on both (the forming one may have moved on)', async () => {
    const path = '/series/ema-cross/BTCUSDT/1m?limit=100';
    const [a, e] = [await get(all, path), await get(edge, path)];
    expect([a.status, e.status], JSON.stringify(e.body)).toEqual([200, 200]);
    const edgeByTime = new Map(closed(e).map((p) => [p.time, p]));
    const shared = closed(a).filter((p) => edgeByTime.has(p.time));
    expect(shared.length).toBeGreaterThan(90);
    for (const p of shared) expect(edgeByTime.get(p.time), String(p.time)).toEqual(p);
  }, 60_000);

  it('a range deeper than the cluster keeps: the edge asks the leader for the older candles and gives the same points as ROLE=all', async () => {
    const top = (await newest()) - 10 * MIN;
    // Candles held, their warm-up (300 bars before the block) not; a warm-up longer than the cluster
    // keeps (a day of 1m bars: the edge answered `points: []` to every query, then 422); candles not
    // held at all; more than one page of them.
    for (const path of [
      `/series/ema-cross/BTCUSDT/1m?limit=20&endTime=${top - (BUFFER - 100) * MIN}`,
      `/series/session-vwap/BTCUSDT/1m?limit=5&endTime=${top}`,
      `/series/ema-cross/BTCUSDT/1m?limit=20&endTime=${top - 5000 * MIN}`,
      `/series/rsi/BTCUSDT/1m?limit=5000&endTime=${top}`,
    ]) {
      const [a, e] = [await get(all, path), await get(edge, path)];
      expect(a.status, `${path} ${JSON.stringify(a.body)}`).toBe(200);
      expect(a.body.points!.length, path).toBeGreaterThan(0);
      expect(e, path).toEqual(a);
    }
  }, 90_000);

  it('GET /candles deeper than the cluster keeps (a chart scrolled back): the same candles as ROLE=all', async () => {
    const top = (await newest()) - 10 * MIN;
    for (const [end, limit] of [
      [top - (BUFFER - 100) * MIN, 500],
      [top - 5000 * MIN, 1000],
    ] as const) {
      const path = `/candles/BTCUSDT/1m?endTime=${end}&limit=${limit}`;
      const [a, e] = [await get(all, path), await get(edge, path)];
      expect(a.status, path).toBe(200);
      const candles = (a.body as { candles?: Array<{ time: number }> }).candles!;
      expect(candles.length, path).toBe(limit);
      expect(candles.at(-1)!.time, path).toBe(end - (end % MIN));
      expect(e, path).toEqual(a);
    }
  }, 60_000);

  it('a bad query gets the same JSON error on both', async () => {
    for (const path of ['/series/ema-cross/BTCUSDT/1m?limit=5&fast=abc', '/series/ema-cross/BTCUSDT/1m?limit=5&fast=30&slow=10', '/series/nope/BTCUSDT/1m?limit=5', '/series/ema-cross/BTCUSDT/1m?limit=0', '/series/ema-cross/BTCUSDT/7x?limit=5']) {
      const [a, e] = [await get(all, path), await get(edge, path)];
      expect(a.status, path).toBeGreaterThanOrEqual(400);
      expect(a.body.error, path).toEqual(expect.any(String));
      expect(e, path).toEqual(a);
    }
  }, 60_000);
  it('with no ingest node to ask, a deep page or range is refused with a clear error, never answered with fewer candles', async () => {
    const top = await newest();
    await ingest.stop();
    const page = await get(edge, `/candles/BTCUSDT/1m?endTime=${top - 5000 * MIN}&limit=100`);
    expect([page.status, page.body.error]).toEqual([502, 'could not load candles: no ingest node is listening for history asks']);
    const range = await get(edge, `/series/ema-cross/BTCUSDT/1m?limit=20&endTime=${top - 5000 * MIN}`);
    expect([range.status, range.body.error]).toEqual([503, 'could not load the candles: no ingest node is listening for history asks']);
    // What Redis keeps is still served.
    expect((await get(edge, `/candles/BTCUSDT/1m?endTime=${top - 100 * MIN}&limit=100`)).status).toBe(200);
  }, 60_000);

  it('no ingest node leading for longer than a failover takes: clients are told stale, /health warns and stays 200 (the edge serves what Redis has), a cold series is refused at once', async () => {
    // The ingest node stopped in the test before.
    const c = new EngineClient(`${edge.ws}/ws/BTCUSDT?interval=1m`);
    try {
      await c.until((x) => x.messages.some((m) => m.type === 'status' && (m as { upstream?: string }).upstream === 'stale'), NO_LEADER_GRACE_MS + 10_000, 'status stale');
      expect(c.historical()?.data.length).toBeGreaterThan(0);
      const res = await request(`${edge.url}/health`);
      const h = (await res.body.json()) as { status: string; warnings: string[]; leader: { present: boolean } };
      expect([res.statusCode, h.status, h.leader.present]).toEqual([200, 'ok', false]);
      expect(h.warnings).toEqual([expect.stringMatching(/^no ingest node has led for \d+ s: nothing new is written$/)]);
      // A cold series is refused at once (nobody can start it), not after the 60 s wait for an answer.
      const t0 = Date.now();
      const cold = await request(`${edge.url}/candles/ETHUSDT/1m?limit=2`);
      expect([cold.statusCode, cold.headers['retry-after'], ((await cold.body.json()) as { code: string }).code]).toEqual([503, '5', 'no_leader']);
      // At once: 10 s allows a loaded machine and is still far from the 60 s the wait would take.
      expect(Date.now() - t0).toBeLessThan(10_000);
      const d = new EngineClient(`${edge.ws}/ws/ETHUSDT?interval=1m`);
      await d.until((x) => x.closeCode !== undefined, 5000, 'close');
      expect([d.closeCode, d.messages[0]]).toEqual([1013, expect.objectContaining({ type: 'error', code: 'no_leader' })]);
    } finally {
      c.close();
    }
  }, 60_000);
});
