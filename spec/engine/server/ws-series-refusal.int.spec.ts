import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * A derived series the engine cannot serve on the chart's interval (session-vwap needs a day of 1s
 * bars to warm up, more than the engine keeps) is refused to that socket alone: the candles and the
 * other series are served, and the refused one is listed failed with why, in `historical` and in a
 * resume's `recovered`. It took the whole chart away (error, close 4000, never retried: a review).
 * A malformed request (an unknown series, a bad parameter) is still refused whole. ROLE=all, and an
 * edge of a cluster (ingest leader on the test Redis) when one is there: the same route, the same answers.
 */
type Message = { type: string; data?: unknown[]; series?: Record<string, unknown[]>; seriesStatus?: Record<string, { state: string; error?: string }>; epoch?: string; offset?: number; message?: string };
type Answer = { messages: Message[]; close?: number };

/** A socket's messages until `until` holds (it stays open, in `hold`) or it closes. */
function connect(url: string, hold: WebSocket[], until: (m: Message[]) => boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const answer: Answer = { messages: [] };
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`no answer from ${url}: ${JSON.stringify(answer.messages.map((m) => m.type))}`)), 30_000);
    ws.on('error', () => {});
    ws.on('message', (d) => {
      answer.messages.push(JSON.parse(d.toString()) as Message);
      if (!until(answer.messages)) return;
      clearTimeout(timer);
      hold.push(ws);
      resolve(answer);
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      answer.close = code;
      resolve(answer);
    });
  });
}

const WARMUP_REFUSED = 'session-vwap: these parameters need 86400 bars of warm-up on 1s, more than the 5000 the engine keeps: use a longer interval or a shorter parameter';
const redisUp = await hasRedis('an edge serves a chart whose one derived series its interval cannot warm');

describe('a derived series the interval cannot serve, on /ws', () => {
  const prefix = `spec-series-refusal-${process.pid}-${Date.now()}:`;
  const common = { symbols: ['BTCUSDT'], intervals: ['1s', '1m'], seriesDir: 'series', bufferSize: 300, historyOnConnect: 100, log: silentLogger };
  const sim = { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 5 };
  let all: App;
  let ingest: IngestNode | undefined;
  let edge: EdgeNode | undefined;
  let r: Redis | undefined;
  const held: WebSocket[] = [];
  const nodes = () => [['all', all.url], ...(edge ? [['edge', edge.url]] : [])] as Array<[string, string]>;

  beforeAll(async () => {
    all = await startTestApp({ source: 'sim', simOptions: sim, ...common });
    await all.ready;
    if (!redisUp) return;
    r = new Redis(REDIS_URL);
    ingest = await startIngest({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, source: 'sim', simOptions: sim, leaseTtlMs: 1500, port: 0, host: '127.0.0.1', clientDir: '', ...common });
    await ingest.app.ready;
    const deadline = Date.now() + 15_000;
    while (!ingest.lease.state.leader || !(await r.exists(`${prefix}cluster:markets`))) {
      if (Date.now() > deadline) throw new Error('the ingest node did not lead and write its markets');
      await new Promise((res) => setTimeout(res, 50));
    }
    edge = await startEdge({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, port: 0, host: '127.0.0.1', clientDir: '', ...common });
    // The edge serves once it follows the configured series.
    for (const iv of common.intervals) await connect(`${edge.url.replace('http', 'ws')}/ws/BTCUSDT?interval=${iv}`, held, (m) => m.some((x) => x.type === 'historical'));
    for (const ws of held.splice(0)) ws.terminate();
  }, 60_000);

  afterAll(async () => {
    for (const ws of held) ws.terminate();
    await edge?.stop();
    await ingest?.stop();
    await all?.stop();
    if (r) {
      await deletePrefix(r, prefix);
      r.disconnect();
    }
  }, 30_000);

  it('serves the candles and the other series, the refused one failed with its reason, and goes on live; a resume says it again (reproduced: error and close 4000 for the whole chart)', async () => {
    for (const [name, base] of nodes()) {
      const url = `${base.replace('http', 'ws')}/ws/BTCUSDT?interval=1s&series=rsi,ema-cross,session-vwap`;
      const answer = await connect(url, held, (m) => m.some((x) => x.type === 'live_candle'));
      expect(answer.close, name).toBeUndefined();
      const first = answer.messages[0]!;
      expect(first.type, name).toBe('historical');
      expect(first.data!.length, name).toBeGreaterThan(0);
      expect(first.series!.rsi!.length, name).toBeGreaterThan(0);
      expect(first.series!['ema-cross']!.length, name).toBeGreaterThan(0);
      expect(first.series!['session-vwap'], name).toEqual([]);
      expect(first.seriesStatus, name).toEqual({ 'session-vwap': { state: 'failed', error: WARMUP_REFUSED } });
      expect(answer.messages.filter((m) => m.type === 'error'), name).toEqual([]);
      // A reconnect that resumes (or, where no position is kept, a fresh snapshot) says it again.
      const last = [...answer.messages].reverse().find((m) => m.epoch !== undefined);
      const again = await connect(last ? `${url}&epoch=${encodeURIComponent(last.epoch!)}&since=${last.offset}` : url, held, (m) => m.some((x) => x.type === 'historical' || x.type === 'recovered'));
      expect(again.close, name).toBeUndefined();
      expect(again.messages[0]!.seriesStatus, name).toEqual({ 'session-vwap': { state: 'failed', error: WARMUP_REFUSED } });
      expect(again.messages[0]!.series!['session-vwap'], name).toEqual([]);
      expect(again.messages[0]!.series, name).toHaveProperty('rsi');
      for (const ws of held.splice(0)) ws.terminate();
    }
  }, 60_000);

  it('still refuses a malformed request whole: an unknown series, a bad parameter, one series twice', async () => {
    for (const [name, base] of nodes()) {
      const ws = base.replace('http', 'ws');
      // Each with the code and the entry to blame, so a client drops that one without reading the wording.
      for (const [series, message, blamed] of [
        ['rsi,nope', /^unknown series 'nope'/, 'nope'],
        ['rsi:period=abc', /period/, 'rsi'],
        ['session-vwap,session-vwap', /asked for more than once/, 'session-vwap'],
        ['rsi:period=3;period=4', /given more than once/, 'rsi'],
        [Array.from({ length: 17 }, (_, i) => `rsi:period=${i + 2}`).join(','), /at most 16 series/, undefined],
      ] as const) {
        const answer = await connect(`${ws}/ws/BTCUSDT?interval=1s&series=${series}`, held, () => false);
        expect(answer.close, `${name} ${series}`).toBe(4000);
        expect(answer.messages, `${name} ${series}`).toEqual([{ type: 'error', code: 'bad_series', message: expect.stringMatching(message) as string, ...(blamed && { series: blamed }) }]);
      }
    }
  }, 30_000);

  it.runIf(redisUp)('is run on an edge too (a test Redis is there)', () => {
    expect(nodes().map(([name]) => name)).toEqual(['all', 'edge']);
  });
});
