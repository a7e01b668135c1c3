import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * A standby holds its upstream events STANDBY_LAG_MS before its pipelines take them (its work at an
 * exchange tick comes after the leader's path to the clients, on a shared machine), loses none, and
 * stops holding once it leads; STANDBY_LAG_MS=0 holds nothing. In process: one simulator, ingest
 * nodes, a client on each node's own port (an ingest node serves clients too), DB 15 under a prefix
 * of the spec's own.
 */
const LAG_MS = 40;
const redisUp = await hasRedis('cluster: a standby holds its upstream events');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Live = { type: string; time: number; close: number; volume: number };
const keyOf = (time: number, close: number, volume: number) => `${time} ${close} ${volume}`;

/** Every live candle a client got, with when it came (performance.now()). */
class Arrivals {
  readonly got: Array<{ key: string; at: number }> = [];
  private readonly ws: WebSocket;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Live;
      if (m.type === 'live_candle') this.got.push({ key: keyOf(m.time, m.close, m.volume), at: performance.now() });
    });
  }
  close() {
    this.ws.terminate();
  }
}

describe.runIf(redisUp)('cluster: a standby holds its upstream events', () => {
  let sim: SimExchange;
  let redis: Redis;
  let a: IngestNode;
  let b: IngestNode;
  let c: IngestNode;
  const sent = new Map<string, number>();
  const prefix = `spec-standby-lag-${process.pid}-${Date.now()}:`;
  const held = async (n: IngestNode) => {
    const text = await (await fetch(`${n.app.url}/metrics`)).text();
    return Number(/^engine_cluster_standby_held_total (\d+)/m.exec(text)?.[1] ?? NaN);
  };

  beforeAll(async () => {
    sim = await startSimExchange({
      symbols: ['BTCUSDT'],
      pushIntervalMs: 100,
      onEvent: (_s, e) => {
        const k = e.k as { t: number; c: string; v: string };
        // The first send of each version (a lag from a repeat's would be shorter than the truth).
        const key = keyOf(k.t, Number(k.c), Number(k.v));
        if (!sent.has(key)) sent.set(key, performance.now());
      },
    });
    redis = new Redis(REDIS_URL);
    const common = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, port: 0, host: '127.0.0.1', clientDir: '', seriesDir: '', log: silentLogger, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 50, leaseTtlMs: 3000, source: 'binance' as const, restUrl: sim.restUrl, wsUrl: sim.wsUrl };
    a = await startIngest({ ...common, nodeId: 'ingest-a', standbyLagMs: LAG_MS });
    await a.app.ready;
    for (const deadline = Date.now() + 10_000; !a.lease.state.leader; await sleep(50)) if (Date.now() > deadline) throw new Error('a does not lead');
    b = await startIngest({ ...common, nodeId: 'ingest-b', standbyLagMs: LAG_MS });
    c = await startIngest({ ...common, nodeId: 'ingest-c', standbyLagMs: 0 });
    await c.app.ready;
    await b.app.ready;
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await b?.stop();
    await a?.stop();
    await sim?.close();
    if (redis) await deletePrefix(redis, prefix);
    redis?.disconnect();
  }, 30_000);

  it("delivers every update on the standby, each at least STANDBY_LAG_MS after the exchange sent it; the leader holds none, nor a standby with STANDBY_LAG_MS=0", async () => {
    const onA = new Arrivals(`${a.app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    const onB = new Arrivals(`${b.app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    const onC = new Arrivals(`${c.app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    // The leader held events only before it led (every node holds until one leads).
    const heldByLeader = await held(a);
    try {
      for (const deadline = Date.now() + 20_000; onA.got.length < 10 || onB.got.length < 10; await sleep(100)) if (Date.now() > deadline) throw new Error(`too few updates: ${onA.got.length}, ${onB.got.length}`);
      // What both saw, from the first update both got: the same updates in the same order.
      const first = onA.got.findIndex((x) => onB.got.some((y) => y.key === x.key));
      const fromB = onB.got.findIndex((y) => y.key === onA.got[first]!.key);
      const last = Math.min(onA.got.length - first, onB.got.length - fromB) - 1;
      expect(last).toBeGreaterThan(6);
      expect(onB.got.slice(fromB, fromB + last).map((x) => x.key)).toEqual(onA.got.slice(first, first + last).map((x) => x.key));
      // Held: never sooner than the lag after the exchange's send (a lower bound, whatever the machine's
      // load; the timer's clock has whole ms, so up to 2 ms short).
      const lags = onB.got.map((x) => x.at - sent.get(x.key)!);
      expect(Math.min(...lags)).toBeGreaterThanOrEqual(LAG_MS - 2);
      expect(await held(b)).toBeGreaterThan(6);
      expect(await held(a)).toBe(heldByLeader);
      // Not held: its clients got each update about the lag sooner than b's got the same one. Timed
      // against b, in this same process (a loaded machine delays both alike), not against a fixed
      // LAG_MS: with two CPU burners beside it c's median lag was 46 ms, unheld.
      expect(await held(c)).toBe(0);
      const onCAt = new Map(onC.got.map((x) => [x.key, x.at]));
      const aheadOfB = onB.got.filter((x) => onCAt.has(x.key)).map((x) => x.at - onCAt.get(x.key)!).sort((x, y) => x - y);
      expect(aheadOfB.length).toBeGreaterThan(6);
      expect(aheadOfB[Math.floor(aheadOfB.length / 2)]).toBeGreaterThanOrEqual(LAG_MS / 2);
    } finally {
      onA.close();
      onB.close();
      onC.close();
    }
  }, 40_000);

  it('stops holding once it leads', async () => {
    // b, not c, takes the lead.
    await c.stop();
    await a.stop();
    for (const deadline = Date.now() + 15_000; !b.lease.state.leader; await sleep(50)) if (Date.now() > deadline) throw new Error('b does not lead');
    const onB = new Arrivals(`${b.app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    try {
      const before = await held(b);
      await sleep(1000);
      for (const deadline = Date.now() + 10_000; onB.got.length < 5; await sleep(100)) if (Date.now() > deadline) throw new Error('no updates once b leads');
      expect(await held(b)).toBe(before);
    } finally {
      onB.close();
    }
  }, 40_000);
});
