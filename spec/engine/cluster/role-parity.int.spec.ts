import { Redis } from 'ioredis';
import { request } from 'undici';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * An attacker's inputs answered alike by ROLE=all and by an edge of a cluster (ROLE=ingest leader on
 * the real Redis (TEST_REDIS_HOST/TEST_REDIS_PORT, DB 15), a key prefix of its own): derived-series parameters that may not become a
 * Redis key, and the derived-series caps (MAX_SERIES_INSTANCES, 16 variants). In process, each node
 * with the simulator; `tagged-sma` has a free-form string parameter.
 */
const MAX_SERIES_INSTANCES = 30;

type Answer = { messages: Array<{ type: string; message?: string; code?: string }>; close?: number };

/** What a socket from address `from` gets: its messages until it closes, or until `until` holds (then it stays open, in `hold`). */
function connect(url: string, hold: WebSocket[], from = '127.0.0.1', until = (m: Answer['messages']) => m.some((x) => x.type === 'historical')): Promise<Answer> {
  return new Promise((resolve) => {
    const answer: Answer = { messages: [] };
    const ws = new WebSocket(url, { headers: { 'x-forwarded-for': from } });
    ws.on('error', () => {});
    ws.on('message', (d) => {
      answer.messages.push(JSON.parse(d.toString()) as Answer['messages'][number]);
      if (until(answer.messages)) {
        hold.push(ws);
        resolve(answer);
      }
    });
    ws.on('close', (code) => {
      answer.close = code;
      resolve(answer);
    });
  });
}

const redisUp = await hasRedis('ROLE=all and ROLE=edge answer the same hostile input the same way');

describe.runIf(redisUp)('ROLE=all and ROLE=edge answer the same hostile input the same way', () => {
  const prefix = `spec-parity-${process.pid}-${Date.now()}:`;
  const common = {
    symbols: ['BTCUSDT'],
    intervals: ['1m', '5m'],
    port: 0,
    host: '127.0.0.1',
    clientDir: '',
    seriesDir: 'spec/fixtures/series-words',
    bufferSize: 200,
    historyOnConnect: 50,
    maxSeriesInstances: MAX_SERIES_INSTANCES,
    // New derived instances per address: a burst of 20 (a full request of 16 fits).
    onDemandPerMinute: 40,
    // The ration alone: no per-address cap on sockets or parameter variants (ws-address-limits covers
    // those), and a warm-up budget the 30 instances of the first test do not spend (warm-ups would
    // wait for it, and the ration would refill meanwhile).
    maxConnectionsPerAddress: 0,
    clientHistoryPerMinute: 6000,
    // Behind a proxy on loopback: X-Forwarded-For names each client.
    trustProxy: ['127.0.0.1'],
    log: silentLogger,
  };
  const sim = { symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100, clockSpeed: 60 };
  let all: App;
  let ingest: IngestNode;
  let edge: EdgeNode;
  let r: Redis;
  const held: WebSocket[] = [];
  const nodes = () => [
    ['all', all.url],
    ['edge', edge.url],
  ] as const;

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    all = await startTestApp({ source: 'sim', simOptions: sim, ...common });
    ingest = await startIngest({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, source: 'sim', simOptions: sim, leaseTtlMs: 1500, ...common });
    await Promise.all([all.ready, ingest.app.ready]);
    const deadline = Date.now() + 15_000;
    while (!ingest.lease.state.leader || !(await r.exists(`${prefix}cluster:markets`))) {
      if (Date.now() > deadline) throw new Error('the ingest node did not lead and write its markets');
      await new Promise((res) => setTimeout(res, 50));
    }
    edge = await startEdge({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, ...common });
    // The edge serves once it follows the configured series.
    await connect(`${edge.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`, held);
    await connect(`${edge.url.replace('http', 'ws')}/ws/BTCUSDT?interval=5m`, held);
    for (const ws of held.splice(0)) ws.terminate();
  }, 60_000);

  afterAll(async () => {
    for (const ws of held) ws.terminate();
    await edge?.stop();
    await ingest?.stop();
    await all?.stop();
    await deletePrefix(r, prefix);
    r.disconnect();
  }, 30_000);

  // First: the leader keeps an instance an edge released for a few seconds (until its touches go
  // stale), so instances asked by the other test would still count against its caps.
  /** A socket served its candles, the one series asked for failed at a cap with `error` (the chart kept: was error and close 1013). */
  const failedAtCap = (label: string, error: string) => expect.objectContaining({ type: 'historical', series: { [label]: [] }, seriesStatus: { [label]: { state: 'failed', error, retryAfterSec: 30 } } }) as unknown;
  it('caps parameter variants and all instances alike, the series over it failed with a clear error, the candles served (reproduced: no MAX_SERIES_INSTANCES; the edge sent each to the leader)', async () => {
    for (const [name, base] of nodes()) {
      const url = base.replace('http', 'ws');
      const sixteen = Array.from({ length: 16 }, (_, i) => `tagged-sma:period=${i + 6}`).join(',');
      const first = await connect(`${url}/ws/BTCUSDT?interval=1m&series=${sixteen}`, held, '192.0.2.1');
      expect(first.messages[0]?.type, name).toBe('historical');
      const seventeenth = await connect(`${url}/ws/BTCUSDT?interval=1m&series=tagged-sma:period=40`, held, '192.0.2.2');
      expect(seventeenth.close, name).toBeUndefined();
      expect(seventeenth.messages[0], name).toEqual(failedAtCap('tagged-sma:period=40', "too many parameter variants of 'tagged-sma' on BTCUSDT 1m in use (max 16); try again later or use its defaults"));
      // 16 held; 14 more on 5m fill MAX_SERIES_INSTANCES; one more is refused naming the setting.
      const fourteen = ['tagged-sma', ...Array.from({ length: 13 }, (_, i) => `tagged-sma:period=${i + 6}`)].join(',');
      const rest = await connect(`${url}/ws/BTCUSDT?interval=5m&series=${fourteen}`, held, '192.0.2.3');
      expect(rest.messages[0]?.type, name).toBe('historical');
      const over = await connect(`${url}/ws/BTCUSDT?interval=5m&series=tagged-sma:period=40`, held, '192.0.2.4');
      expect(over.close, name).toBeUndefined();
      expect(over.messages[0], name).toEqual(failedAtCap('tagged-sma:period=40', `too many derived series in use (MAX_SERIES_INSTANCES=${MAX_SERIES_INSTANCES}); try again later`));
      for (const ws of held.splice(0)) ws.terminate();
    }
    // Until the leader lets go of them, the next tests' instances would be refused at its caps (1013).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const health = (await (await request(`${ingest.app.url}/health`)).body.json()) as { derived: { held: number } };
      if (health.derived.held === 0) break;
      if (Date.now() > deadline) throw new Error(`the leader still holds ${health.derived.held} instances`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }, 90_000);
  it("tells clients the exchange the data comes from alike (reproduced: an edge said `cluster`, and a chart fed by the simulator showed no 'simulated feed')", async () => {
    for (const [name, base] of nodes()) {
      const answer = await connect(`${base.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`, held, '192.0.2.9', (m) => m.some((x) => x.type === 'status'));
      expect((answer.messages.find((x) => x.type === 'status') as { source?: string } | undefined)?.source, name).toBe('sim');
      expect(((await (await request(`${base}/symbols`)).body.json()) as { source: string }).source, name).toBe('sim');
      expect(((await (await request(`${base}/health`)).body.json()) as { source: string }).source, name).toBe('sim');
    }
    for (const ws of held.splice(0)) ws.terminate();
  });
  it("an ingest node's own clients get live candles, and no position to resume with there (reproduced: frozen reading live; every resume an empty recovered)", async () => {
    const url = `${ingest.app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`;
    const answer = await connect(url, held, '192.0.2.10', (m) => m.filter((x) => x.type === 'live_candle').length >= 3);
    const first = answer.messages[0] as { type: string; epoch?: string };
    expect(first.type).toBe('historical');
    expect(first.epoch).toBeUndefined();
    // A resume asked of it is answered with a fresh snapshot.
    const resumed = await connect(`${url}&epoch=e&since=0`, held, '192.0.2.10');
    expect(resumed.messages[0]).toMatchObject({ type: 'historical', recovered: false });
    for (const ws of held.splice(0)) ws.terminate();
  });
  it('refuses a derived-series parameter that may not become a Redis key with the same error on both (reproduced: ROLE=all computed it, the edge refused it)', async () => {
    const bad = ['a%20b', 'a%7Cb', '%E2%82%AC', '', 'x'.repeat(65), '%7Bjson%7D'];
    for (const value of bad) {
      const answers: Array<{ ws: Answer; http: { status: number; body: unknown } }> = [];
      for (const [, base] of nodes()) {
        const ws = await connect(`${base.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=tagged-sma:tag=${value}`, held);
        const res = await request(`${base}/series/tagged-sma/BTCUSDT/1m?limit=5&tag=${value}`);
        answers.push({ ws, http: { status: res.statusCode, body: await res.body.json() } });
      }
      const [a, e] = answers;
      expect(a!.ws.close, `tag=${value}`).toBe(4000);
      expect(a!.ws.messages).toEqual([{ type: 'error', code: 'bad_series', series: 'tagged-sma', message: expect.stringMatching(/parameter 'tag' must be 1-64 letters, digits/) as string }]);
      expect(e!.ws, `tag=${value}`).toEqual(a!.ws);
      expect(a!.http.status).toBe(400);
      expect(e!.http, `tag=${value}`).toEqual(a!.http);
    }
    // A plain word is computed on both.
    for (const [name, base] of nodes()) {
      const ws = await connect(`${base.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=tagged-sma:tag=v1.2_x-y`, held);
      expect(ws.messages[0], name).toMatchObject({ type: 'historical', series: { 'tagged-sma:tag=v1.2_x-y': expect.any(Array) as unknown } });
      // Computed, not refused (a historical carrying a failed status passed the line above).
      expect((ws.messages[0] as { seriesStatus?: unknown }).seriesStatus, name).toBeUndefined();
    }
    for (const ws of held.splice(0)) ws.terminate();
  }, 60_000);


  it('rations new derived-series instances per address on both, joining held ones is free (reproduced: unlimited; on an edge each was a Redis ask and a warm-up on the leader)', async () => {
    for (const [name, base] of nodes()) {
      const url = base.replace('http', 'ws');
      const labels = (from: number, n: number) => Array.from({ length: n }, (_, i) => `tagged-sma:period=${from + i}`);
      const sixteen = (from: number) => labels(from, 16).join(',');
      // Served: a historical carrying every series asked for, none with a failed status (a historical
      // whose series all failed would pass a check of the historical alone).
      const served = (a: Answer) => {
        const h = a.messages.find((m) => m.type === 'historical') as { series?: Record<string, unknown>; seriesStatus?: unknown } | undefined;
        return { historical: h !== undefined, series: Object.keys(h?.series ?? {}).sort(), seriesStatus: h?.seriesStatus };
      };
      // ETHUSDT is started on demand (one new series: its own ration, not this one).
      const first = await connect(`${url}/ws/ETHUSDT?interval=1m&series=${sixteen(6)}`, held, '203.0.113.5');
      expect(served(first), name).toEqual({ historical: true, series: labels(6, 16).sort(), seriesStatus: undefined });
      // 16 of a burst of 20 spent: 8 more new ones are refused at once (under the caps: served without the ration)...
      const eight = Array.from({ length: 8 }, (_, i) => `tagged-sma:period=${i + 6}`).join(',');
      const more = await connect(`${url}/ws/ETHUSDT?interval=5m&series=${eight}`, held, '203.0.113.5');
      expect(more.close, name).toBe(4000);
      expect(more.messages.at(-1), name).toMatchObject({ type: 'error', code: 'rate_limited', message: expect.stringMatching(/too many new derived series from this address \(ON_DEMAND_PER_MIN\); retry in \d+ s/) as string });
      // ...the same ones, held by the first socket, are joined freely; another address is not affected.
      const join = await connect(`${url}/ws/ETHUSDT?interval=1m&series=${sixteen(6)}`, held, '203.0.113.5');
      expect(served(join), name).toEqual({ historical: true, series: labels(6, 16).sort(), seriesStatus: undefined });
      const other = await connect(`${url}/ws/ETHUSDT?interval=5m&series=tagged-sma:period=7`, held, '203.0.113.6');
      expect(served(other), name).toEqual({ historical: true, series: ['tagged-sma:period=7'], seriesStatus: undefined });
      for (const ws of held.splice(0)) ws.terminate();
    }
  }, 90_000);
});
