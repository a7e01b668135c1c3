import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { startDemandCluster } from '../../helpers/demand-cluster.ts';
import { RELEASED_SERIES_TTL_MS } from '../../../engine/src/store/redis-bar-store.ts';
import { EngineClient, type WireCandle } from '../../helpers/ws-client.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * Issue 13 part 6: a cold symbol asked on any edge reaches the leader through Redis (the wanted set
 * and the demand channel), the leader bootstraps it and writes it through the fenced writer, and every
 * edge serves it. One ingest node, two edges, the simulator and a redis-server of the test's own, as
 * child processes.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redisUp = await hasRedisServer('on-demand symbols through any edge (child processes)');

describe.runIf(redisUp)('on-demand symbols through any edge (child processes)', () => {
  let cluster: Awaited<ReturnType<typeof startDemandCluster>> | undefined;
  let r: Redis;
  let sim: SimExchange;
  let ingest: NodeProcess[] = [];
  let env: Record<string, string>;
  let edges: NodeProcess[] = [];
  const clients: EngineClient[] = [];
  const ws = (edge: NodeProcess, path: string) => {
    const c = new EngineClient(`${edge.ws}${path}`);
    clients.push(c);
    return c;
  };

  /** Closed candles equal the simulator's truth, with no hole (the forming one may follow). */
  const expectTrue = (candles: WireCandle[], symbol: string) => {
    const closed = candles.filter((c) => c.is_closed);
    expect(closed.length).toBeGreaterThan(10);
    for (let i = 1; i < closed.length; i++) expect(closed[i]!.time - closed[i - 1]!.time).toBe(60_000);
    const truth = sim.truth(symbol, '1m', closed[0]!.time, closed[closed.length - 1]!.time);
    expect(closed).toEqual(truth.map((b) => ({ time: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, is_closed: true })));
  };
  const closedLive = (c: EngineClient) => c.live().filter((m) => m.is_closed).length;

  beforeAll(async () => {
    cluster = await startDemandCluster(['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT'], { IDLE_SERIES_MS: '3000' });
    ({ r, sim, env, edges } = cluster);
    ingest = [cluster.ingest];
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    // The ingest nodes started by the tests (the first is the cluster's).
    await Promise.all(ingest.slice(1).map((n) => n.stop()));
    await cluster?.stop();
  }, 60_000);

  it('a configured series on a fresh cluster: the edge serves its whole history, not the few bars the leader rewrote at takeover (reproduced: 10)', async () => {
    expect(await r.zcard('candles:BTCUSDT:1m')).toBeGreaterThanOrEqual(199);
    // Not in `clients`: the tests below take clients[0] as their cold symbol's client.
    const c = new EngineClient(`${edges[0]!.ws}/ws/BTCUSDT?interval=1m`);
    try {
      await c.until((x) => x.historical() !== undefined, 20_000, 'historical');
      const data = c.historical()!.data;
      expect(data.length).toBe(100);
      expectTrue(data, 'BTCUSDT');
    } finally {
      c.close();
    }
  });

  it('a cold symbol on edge A: loading, then historical, then live candles equal to the simulator; edge B serves the same series', async () => {
    const a = ws(edges[0]!, '/ws/ETHUSDT?interval=1m');
    await a.until((c) => closedLive(c) >= 3, 30_000, 'live closed candles on edge A');
    expect(a.messages.slice(0, 2).map((m) => m.type)).toEqual(['loading', 'historical']);
    expect(a.historical()!.data.length).toBeGreaterThan(10);
    // The leader holds it for the edges and the simulator streams it.
    expect(await r.zrange('cluster:wanted', 0, -1)).toContain('ETHUSDT:1m');
    expect(await r.get('cluster:served:ETHUSDT:1m')).toBe('live');
    expect(sim.subscriptions().flat()).toContain('ethusdt@kline_1m');

    const b = ws(edges[1]!, '/ws/ETHUSDT?interval=1m');
    await b.until((c) => closedLive(c) >= 3, 30_000, 'live closed candles on edge B');
    expect(b.messages.map((m) => m.type)).toContain('historical');
    expectTrue(a.merged(), 'ETHUSDT');
    expectTrue(b.merged(), 'ETHUSDT');
    // The same series: where both hold a closed candle, it is the same candle at the same position.
    const onA = new Map(a.merged().map((c) => [c.time, c]));
    const common = b.merged().filter((c) => c.is_closed && onA.get(c.time)?.is_closed);
    expect(common.length).toBeGreaterThan(3);
    for (const c of common) expect(onA.get(c.time)).toEqual(c);
    // The same position on both edges: a live frame at an offset both heard is the same frame, same epoch.
    const withoutAt = ({ at: _at, ...m }: ReturnType<EngineClient['live']>[number]) => m;
    const onBAt = new Map(b.live().map((m) => [m.offset, withoutAt(m)]));
    const heardByBoth = a.live().filter((m) => onBAt.has(m.offset));
    expect(heardByBoth.length).toBeGreaterThan(0);
    for (const m of heardByBoth) expect(onBAt.get(m.offset), `offset ${m.offset}`).toEqual(withoutAt(m));
  }, 60_000);

  it('GET /candles of a cold symbol on an edge waits for the cluster and answers its history', async () => {
    const res = await request(`${edges[1]!.url}/candles/SOLUSDT/1m?limit=50`);
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as { candles: WireCandle[] };
    expectTrue(body.candles, 'SOLUSDT');
  }, 60_000);

  it('asked again right after every edge let go, while the leader still runs it: its window is not written again', async () => {
    // The GET above held SOLUSDT on edge B for a moment; edge B lets go of it, then the leader does.
    const deadline = Date.now() + 15_000;
    while ((await r.zrange('cluster:wanted', 0, -1)).includes('SOLUSDT:1m')) {
      if (Date.now() > deadline) throw new Error('SOLUSDT was not let go');
      await sleep(50);
    }
    const leader = ingest[0]!;
    const writes = async () => {
      const w = (await leader.readHealth()).writes as { written: number; dropped: number };
      return w.written + w.dropped;
    };
    const before = await writes();
    // Within the leader's IDLE_SERIES_MS (3 s), so its lifecycle still has the series live.
    const res = await request(`${edges[0]!.url}/candles/SOLUSDT/1m?limit=50`);
    expect(res.statusCode).toBe(200);
    expectTrue(((await res.body.json()) as { candles: WireCandle[] }).candles, 'SOLUSDT');
    const during = (await writes()) - before;
    // Live updates only (three series, ten a second each): not its window of BUFFER_SIZE (200) again.
    expect(during).toBeLessThan(150);
  }, 30_000);

  it('a symbol the exchange does not trade, or a bad interval, is refused on the edge and never reaches the leader', async () => {
    const nudges: string[] = [];
    const sub = r.duplicate();
    sub.on('error', () => {});
    await sub.subscribe('cluster:demand');
    sub.on('message', (_ch, m) => nudges.push(m));
    const bad = ws(edges[0]!, '/ws/NOPEUSDT?interval=1m');
    await bad.until((c) => c.closeCode !== undefined, 10_000, 'refused');
    expect(bad.closeCode).toBe(4000);
    expect(bad.messages[0]).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
    const badInterval = ws(edges[0]!, '/ws/XRPUSDT?interval=7m');
    await badInterval.until((c) => c.closeCode !== undefined, 10_000, 'refused');
    expect(badInterval.messages[0]).toMatchObject({ type: 'error' });
    const res = await request(`${edges[1]!.url}/candles/NOPEUSDT/1m`);
    expect(res.statusCode).toBe(400);
    await res.body.dump();
    await sleep(1500);
    const wanted = await r.zrange('cluster:wanted', 0, -1);
    expect(wanted.some((m) => m.startsWith('NOPEUSDT') || m.startsWith('XRPUSDT'))).toBe(false);
    // (An edge letting go of the earlier tests' series nudges the leader too.)
    expect(nudges.filter((m) => m.startsWith('NOPEUSDT') || m.startsWith('XRPUSDT'))).toEqual([]);
    expect(await r.exists('cluster:served:NOPEUSDT:1m')).toBe(0);
    expect(sim.subscriptions().flat()).not.toContain('nopeusdt@kline_1m');
    sub.disconnect();
  }, 30_000);

  it('the demand survives a leader change: SIGKILL the leader, the new one takes the wanted series over and the client on edge A streams on', async () => {
    const standby = await NodeProcess.start('ingest-b', { ...env, ROLE: 'ingest' });
    ingest.push(standby);
    await standby.until((h) => h.status === 'ok' && h.leader === false, 60_000, 'standby ready');
    const a = clients[0]!;
    expect(a.closeCode).toBeUndefined();
    ingest[0]!.signal('SIGKILL');
    // What this test checks is that the demand survives, not how soon a child process under load leads.
    await standby.until((h) => h.leader === true, 15_000, 'standby leads');
    const before = closedLive(a);
    await a.until((c) => closedLive(c) >= before + 3, 30_000, 'live closed candles after the failover');
    expect(await r.get('cluster:served:ETHUSDT:1m')).toBe('live');
    expectTrue(a.merged(), 'ETHUSDT');
    // Positions only move forward under one epoch: the new leader continues the series' offsets.
    const live = a.live();
    for (let i = 1; i < live.length; i++) {
      expect(live[i]!.epoch).toBe(live[0]!.epoch);
      expect(live[i]!.offset).toBe(live[i - 1]!.offset! + 1);
    }
  }, 90_000);

  it('idle release across the cluster: once no edge has clients, the edges stop touching, the leader lets go and the upstream stream is unsubscribed', async () => {
    for (const c of clients) c.close();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const streams = sim.subscriptions().flat();
      const wanted = await r.zrange('cluster:wanted', 0, -1);
      if (!streams.includes('ethusdt@kline_1m') && !streams.includes('solusdt@kline_1m') && wanted.length === 0) break;
      if (Date.now() > deadline) throw new Error(`not released: streams ${streams.join(',')}, wanted ${wanted.join(',')}`);
      await sleep(250);
    }
    expect(sim.subscriptions().flat()).toContain('btcusdt@kline_1m');
    expect(await r.exists('cluster:served:ETHUSDT:1m')).toBe(0);
    expect(await r.exists('cluster:holders:ETHUSDT:1m', 'cluster:holders:SOLUSDT:1m')).toBe(0);
    const h = await edges[0]!.readHealth();
    expect(h.onDemand).toEqual({ asked: 0, following: 0, live: 0 });
  }, 45_000);

  it('a freed series leaves Redis within RELEASED_SERIES_TTL_MS (a configured one never); asked for again, it is kept for good', async () => {
    const ttls = () => Promise.all(['candles:ETHUSDT:1m', 'pos:ETHUSDT:1m', 'candles:BTCUSDT:1m', 'pos:BTCUSDT:1m'].map((k) => r.pttl(k)));
    // Set by the leader when its lifecycle frees the series (right after the stream above went).
    for (const deadline = Date.now() + 10_000; (await ttls())[0]! < 0; await sleep(100)) if (Date.now() > deadline) throw new Error(`never set to expire: ${String(await ttls())}`);
    const [candles, pos, btcCandles, btcPos] = await ttls();
    for (const t of [candles!, pos!]) {
      expect(t).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
      expect(t).toBeLessThanOrEqual(RELEASED_SERIES_TTL_MS);
    }
    expect([btcCandles, btcPos]).toEqual([-1, -1]);
    const c = ws(edges[1]!, '/ws/ETHUSDT?interval=1m');
    await c.until((x) => x.live().length > 0, 30_000, 'ETHUSDT live again');
    expect((await ttls()).slice(0, 2)).toEqual([-1, -1]);
    c.close();
  }, 45_000);

  it('a series every edge let go of while no node led leaves Redis once another node leads; a configured one stays (reproduced: kept for good)', async () => {
    // The leader holds XRPUSDT for a client of edge 1 (and names it among the kept series)...
    const c = ws(edges[0]!, '/ws/XRPUSDT?interval=1m');
    await c.until((x) => x.live().length > 0, 30_000, 'XRPUSDT live');
    for (const deadline = Date.now() + 10_000; !(await r.sismember('cluster:kept', 'XRPUSDT:1m')); await sleep(100)) {
      if (Date.now() > deadline) throw new Error('XRPUSDT:1m never named among the kept series');
    }
    expect(await r.pttl('candles:XRPUSDT:1m')).toBe(-1);
    // ...dies, and the edge lets go of the series while no node leads.
    const leading = (await Promise.all(ingest.map(async (n) => ((await n.health())?.leader === true ? n : undefined)))).find((n) => n);
    leading!.signal('SIGKILL');
    c.close();
    for (const deadline = Date.now() + 15_000; (await r.zscore('cluster:wanted', 'XRPUSDT:1m')) !== null; await sleep(100)) {
      if (Date.now() > deadline) throw new Error('the edge never let go of XRPUSDT:1m');
    }
    const next = await NodeProcess.start('ingest-c', { ...env, ROLE: 'ingest' });
    ingest.push(next);
    await next.until((h) => h.leader === true, 60_000, 'ingest-c leads');
    // DEMAND_STALE_MS after taking the lead it frees what no edge wants.
    for (const deadline = Date.now() + 30_000; (await r.pttl('candles:XRPUSDT:1m')) < 0; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`XRPUSDT:1m still kept: PTTL ${await r.pttl('candles:XRPUSDT:1m')}`);
    }
    for (const k of ['candles:XRPUSDT:1m', 'pos:XRPUSDT:1m']) {
      expect(await r.pttl(k)).toBeGreaterThan(RELEASED_SERIES_TTL_MS - 60_000);
      expect(await r.pttl(k)).toBeLessThanOrEqual(RELEASED_SERIES_TTL_MS);
    }
    expect(await r.sismember('cluster:kept', 'XRPUSDT:1m')).toBe(0);
    expect(await r.zscore('cluster:freed', 'XRPUSDT:1m')).not.toBeNull();
    expect(await r.pttl('candles:BTCUSDT:1m')).toBe(-1);
    expect(await r.sismember('cluster:kept', 'BTCUSDT:1m')).toBe(1);
  }, 120_000);
});
