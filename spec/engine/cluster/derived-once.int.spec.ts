import { Redis } from 'ioredis';
import { request } from 'undici';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { instanceKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { RELEASED_INSTANCE_TTL_MS } from '../../../engine/src/cluster/fenced-writer.ts';
import { SeriesReader } from '../../../engine/src/cluster/series-reader.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * Issue 13 part 5: "an edge serves derived series computed once in the cluster, not once per edge".
 * A real redis-server of the spec's own, the simulator, two ingest nodes, two edges and a ROLE=all
 * engine as child processes, real WebSocket clients asking for `series=rsi`.
 */
type Point = { time: number; value?: number | null; is_closed: boolean };
type Msg = { type: string; epoch?: string; offset?: number; name?: string; series?: Record<string, Point[]>; data?: Array<{ time: number }>; [k: string]: unknown };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PATH = '/ws/BTCUSDT?interval=1m&series=rsi';

/** A client that keeps the derived series as a chart would: historical's series part, then every series_point by time. */
class SeriesClient {
  readonly messages: Msg[] = [];
  readonly points = new Map<number, Point>();
  readonly ws: WebSocket;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('error', () => {});
    this.ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Msg;
      this.messages.push(m);
      if ((m.type === 'historical' || m.type === 'recovered') && m.series) for (const p of m.series.rsi ?? []) this.points.set(p.time, { time: p.time, value: p.value, is_closed: p.is_closed });
      if (m.type === 'series_point' && m.name === 'rsi') this.points.set(m.time as number, { time: m.time as number, value: m.value as number | null, is_closed: m.is_closed as boolean });
    });
  }
  closed(): Point[] {
    return [...this.points.values()].filter((p) => p.is_closed).sort((a, b) => a.time - b.time);
  }
  async until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.messages.length} messages, ${this.closed().length} closed points`);
      await sleep(50);
    }
  }
  close() {
    this.ws.terminate();
  }
}

async function untilMetric(node: NodeProcess, name: string, value: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await metric(node, name)) !== value) {
    if (Date.now() > deadline) throw new Error(`${node.name}: ${name} is ${await metric(node, name)}, not ${value}`);
    await sleep(100);
  }
}

async function metric(node: NodeProcess, name: string): Promise<number | undefined> {
  const res = await request(`${node.url}/metrics`);
  const text = await res.body.text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The closed points both hold, by time: at least `min` of them, and equal. */
function expectSameClosed(a: SeriesClient | Point[], b: SeriesClient, min: number) {
  const bt = new Map(b.closed().map((p) => [p.time, p]));
  const common = (Array.isArray(a) ? a : a.closed()).filter((p) => bt.has(p.time));
  expect(common.length).toBeGreaterThanOrEqual(min);
  expect(common).toEqual(common.map((p) => bt.get(p.time)));
  return common;
}

const redisUp = await hasRedisServer('derived series computed once in the cluster (child processes)');

describe.runIf(redisUp)('derived series computed once in the cluster (child processes)', () => {
  let redis: RedisProcess;
  let r: Redis;
  let sim: SimExchange;
  let ingest: NodeProcess[] = [];
  let edges: NodeProcess[] = [];
  let all: NodeProcess;
  const clients: SeriesClient[] = [];
  const keys = instanceKeys('rsi', seriesId('BTCUSDT', '1m'));
  const leader = async () => {
    for (const n of ingest) if (!n.exited && (await n.health())?.leader === true) return n;
    return undefined;
  };

  beforeAll(async () => {
    redis = await RedisProcess.start();
    r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    // One simulated minute per real second: candles (and their RSI points) close every second.
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 });
    const env = { SYMBOLS: 'BTCUSDT', INTERVALS: '1m', BUFFER_SIZE: '200', HISTORY_ON_CONNECT: '100', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SERIES_DIR: 'series', LEASE_TTL_MS: '1500' };
    // Started in turn: each loads the series modules in a child process with a time limit, and the
    // machine is shared.
    const ready = (nodes: NodeProcess[]) => Promise.all(nodes.map((n) => n.until((h) => h.status === 'ok', 90_000, 'ready')));
    ingest = await Promise.all(['ingest-a', 'ingest-b'].map((n) => NodeProcess.start(n, { ...env, REDIS_URL: redis.url, ROLE: 'ingest' })));
    await ready(ingest);
    // Edges let an instance nobody holds go after 2 s (the last test).
    edges = await Promise.all(['edge-1', 'edge-2'].map((n) => NodeProcess.start(n, { ...env, REDIS_URL: redis.url, ROLE: 'edge', IDLE_SERIES_MS: '2000' })));
    await ready(edges);
    all = await NodeProcess.start('all', { ...env, REDIS_URL: '', ROLE: 'all' });
    await ready([all]);
  }, 150_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([...ingest, ...edges, all].filter(Boolean).map((n) => n.stop()));
    await sim?.close();
    r?.disconnect();
    await redis?.stop();
  }, 60_000);

  it('clients on two edges get identical points, equal to ROLE=all; the leader built the instance once, the edges none', async () => {
    const [a, b, c] = [new SeriesClient(`${edges[0]!.ws}${PATH}`), new SeriesClient(`${edges[1]!.ws}${PATH}`), new SeriesClient(`${all.ws}${PATH}`)];
    clients.push(a, b, c);
    for (const x of [a, b, c]) await x.until(() => x.messages.some((m) => m.type === 'historical'), 60_000, 'historical');
    // The historical's series part on the edges: a point at each of its candles (the leader wrote
    // the instance's window before it answered, so the edge had it before the client's snapshot).
    for (const x of [a, b]) {
      const h = x.messages.find((m) => m.type === 'historical')!;
      expect(h.series!.rsi!.map((p) => p.time)).toEqual(h.data!.map((d) => d.time));
    }
    const start = Math.max(...[a, b, c].map((x) => x.closed().at(-1)!.time));
    for (const x of [a, b, c]) await x.until(() => x.closed().filter((p) => p.time > start).length >= 10, 30_000, 'live closed points');
    // The wire is ROLE=all's: the same fields, and the candle series' position on every point.
    const pointsOf = (x: SeriesClient) => x.messages.filter((m) => m.type === 'series_point');
    expect(pointsOf(a).length).toBeGreaterThan(0);
    expect(Object.keys(pointsOf(a)[0]!)).toEqual(Object.keys(pointsOf(c)[0]!));
    const epoch = a.messages.find((m) => m.type === 'historical')!.epoch;
    for (const m of pointsOf(a)) expect([m.epoch, typeof m.offset]).toEqual([epoch, 'number']);
    expectSameClosed(a, b, 10);
    expectSameClosed(a, c, 10);
    // What the leader wrote (its window: warm-up included) is what ROLE=all computed for the same bars.
    // (Its status sits above the points: `{"s":"live"}`.)
    const stored = (await r.zrange(keys.candles, 0, -1)).map((m) => JSON.parse(m) as unknown).filter((m): m is [number, number, number | null] => Array.isArray(m));
    expectSameClosed(
      stored.filter(([, closed]) => closed === 1).map(([time, , value]) => ({ time, value, is_closed: true })),
      c,
      60,
    );
    const lead = (await leader())!;
    const standby = ingest.find((n) => n !== lead)!;
    expect(await metric(lead, 'engine_series_instances')).toBe(1);
    expect(await metric(standby, 'engine_series_instances')).toBe(0);
    for (const e of edges) {
      expect(await metric(e, 'engine_series_instances')).toBe(0);
      expect(await metric(e, 'engine_cluster_series_followed')).toBe(1);
    }
  }, 120_000);

  it('a client resuming with series= on the other edge gets recovered with the series part', async () => {
    const a = clients[0]!;
    const last = [...a.messages].reverse().find((m) => m.type === 'live_candle' && m.is_closed === true)!;
    const since = last.offset! - 3;
    const resumed = new SeriesClient(`${edges[1]!.ws}${PATH}&epoch=${last.epoch}&since=${since}`);
    clients.push(resumed);
    await resumed.until(() => resumed.messages.length > 0, 20_000, 'first message');
    const first = resumed.messages[0]!;
    expect(first.type).toBe('recovered');
    const times = first.data!.map((x) => x.time);
    expect(first.series!.rsi!.length).toBeGreaterThan(0);
    // The touched bars' points, and the one before them (the client's last bar's: first-message.ts).
    const from = Math.min(...times) - 60_000;
    const to = Math.max(...times);
    for (const p of first.series!.rsi!) expect(p.time >= from && p.time <= to, `point at ${p.time}, bars ${from}…${to}`).toBe(true);
    expect(first.series!.rsi!.some((p) => p.time === from)).toBe(true);
  }, 60_000);

  it('SIGKILL the leader: the standby recomputes from the bars; points continue, the log neither repeats nor skips an offset', async () => {
    const [a, b, c] = clients;
    const epoch = await r.hget(keys.pos, 'epoch');
    const old = (await leader())!;
    old.signal('SIGKILL');
    const standby = ingest.find((n) => n !== old)!;
    await standby.until((h) => h.leader === true, 10_000, 'standby leads');
    const killedAt = a!.closed().at(-1)!.time;
    for (const x of [a!, b!, c!]) await x.until(() => x.closed().filter((p) => p.time > killedAt).length >= 8, 60_000, 'points after the failover');
    // Edges still computed nothing; the new leader built the instance once.
    expect(await metric(standby, 'engine_series_instances')).toBe(1);
    for (const e of edges) expect(await metric(e, 'engine_series_instances')).toBe(0);
    // Same points everywhere, before and after the failover, with no minute missing.
    for (const other of [b!, c!]) expect(expectSameClosed(a!, other, 15).filter((p) => p.time > killedAt).length).toBeGreaterThanOrEqual(8);
    const times = a!.closed().map((p) => p.time);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(60_000);
    // The instance's log: same epoch, offsets contiguous, and no point written twice (the takeover's
    // rewrite of the window was dropped where Redis had it).
    expect(await r.hget(keys.pos, 'epoch')).toBe(epoch);
    // One moment of the log (the leader keeps writing).
    const log = await new SeriesReader(r).snapshotOf(keys, 1, (member: string) => member);
    const offsets = log.history.map((u) => u.offset);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[0]! + i);
    expect(offsets.at(-1)).toBe(log.offset);
    const members = log.history.map((u) => u.bar).filter((m) => (JSON.parse(m) as unknown[])[1] === 1);
    expect(new Set(members).size).toBe(members.length);
  }, 120_000);

  it('an instance nobody holds any more is let go: the edges unfollow it, then the leader releases it', async () => {
    const lead = (await leader())!;
    expect((await lead.readHealth()).derived).toMatchObject({ held: 1 });
    for (const c of clients) c.close();
    for (const e of edges) await untilMetric(e, 'engine_cluster_series_followed', 0, 20_000);
    // No edge touches it any more: the leader lets it go (its registry frees it after its idle time).
    await lead.until((h) => (h.derived as { held: number }).held === 0, 20_000, 'the leader released the instance');
    // Its log goes in RELEASED_INSTANCE_TTL_MS, not the day a written one keeps (parameters are the
    // clients' choice: every instance ever asked for stayed a day).
    for (const deadline = Date.now() + 5000; (await r.pttl(keys.pos)) > RELEASED_INSTANCE_TTL_MS; await sleep(100)) if (Date.now() > deadline) break;
    for (const k of [keys.candles, keys.pos]) {
      const ttl = await r.pttl(k);
      expect(ttl, k).toBeGreaterThan(RELEASED_INSTANCE_TTL_MS - 60_000);
      expect(ttl, k).toBeLessThanOrEqual(RELEASED_INSTANCE_TTL_MS);
    }
  }, 60_000);
  it('held again while the leader still runs it: only the points since are written, not its window again', async () => {
    const lead = (await leader())!;
    const writes = async () => {
      const w = ((await lead.readHealth()).derived as { writes: { written: number; dropped: number } }).writes;
      return w.written + w.dropped;
    };
    // Let go by the previous test; its registry keeps it for its idle minute. An edge asks again.
    const before = await writes();
    const t0 = Date.now();
    const again = new SeriesClient(`${edges[0]!.ws}${PATH}`);
    clients.push(again);
    await again.until(() => again.messages.some((m) => m.type === 'historical'), 30_000, 'historical');
    await lead.until((h) => (h.derived as { held: number }).held === 1, 20_000, 'held again');
    const seconds = (Date.now() - t0) / 1000;
    const during = (await writes()) - before;
    // The live points of that time (a simulated minute per second, pushed every 100 ms: about 11 a
    // second) and those computed while it was let go; its window of BUFFER_SIZE (200) points is not
    // written again (reproduced: 200 more each time an edge asked again).
    expect(during, `${during} writes in ${seconds.toFixed(1)} s`).toBeLessThan(150);
    expect(again.closed().length).toBeGreaterThan(90);
    // Written again: kept for INSTANCE_LOG_TTL_MS again.
    expect(await r.pttl(keys.pos)).toBeGreaterThan(RELEASED_INSTANCE_TTL_MS);
  }, 60_000);

  it('an instance every edge let go of while no node led: its log goes once another node leads (reproduced: kept its day)', async () => {
    // Held (by the previous test's client) and named among the kept logs.
    expect(await r.sismember('cluster:kept-instances', 'rsi|BTCUSDT:1m')).toBe(1);
    const lead = (await leader())!;
    lead.signal('SIGKILL');
    for (const c of clients) c.close();
    for (const deadline = Date.now() + 15_000; (await r.zscore('cluster:series-wanted', 'rsi|BTCUSDT:1m')) !== null; await sleep(100)) {
      if (Date.now() > deadline) throw new Error('the edges never let go of rsi|BTCUSDT:1m');
    }
    expect(await r.pttl(keys.pos)).toBeGreaterThan(RELEASED_INSTANCE_TTL_MS);
    const next = await NodeProcess.start('ingest-c', { SYMBOLS: 'BTCUSDT', INTERVALS: '1m', BUFFER_SIZE: '200', HISTORY_ON_CONNECT: '100', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, SERIES_DIR: 'series', LEASE_TTL_MS: '1500', REDIS_URL: redis.url, ROLE: 'ingest' });
    ingest.push(next);
    await next.until((h) => h.leader === true, 90_000, 'ingest-c leads');
    // DEMAND_STALE_MS after taking the lead it frees the logs no edge wants.
    for (const deadline = Date.now() + 30_000; (await r.pttl(keys.pos)) > RELEASED_INSTANCE_TTL_MS; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`rsi|BTCUSDT:1m still kept: PTTL ${await r.pttl(keys.pos)}`);
    }
    for (const k of [keys.candles, keys.pos]) {
      const ttl = await r.pttl(k);
      expect(ttl, k).toBeGreaterThan(RELEASED_INSTANCE_TTL_MS - 60_000);
      expect(ttl, k).toBeLessThanOrEqual(RELEASED_INSTANCE_TTL_MS);
    }
    expect(await r.sismember('cluster:kept-instances', 'rsi|BTCUSDT:1m')).toBe(0);
    // The configured bar series it was computed on is kept for good.
    expect(await r.pttl('candles:BTCUSDT:1m')).toBe(-1);
  }, 150_000);
});
