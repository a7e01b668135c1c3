import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { EngineClient, type WireCandle } from '../../helpers/ws-client.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';

/**
 * A configured custom interval's history reaches the edges. It goes live once its history is resampled
 * from its source, which can be after the leader's heals (on taking the lead, and at the end of the
 * native bootstrap); its window was then never written, and an edge's clients got only the bars
 * written since the cluster started (1-2 bars of 2m where ROLE=all gives 100; with the shipped
 * derived series loaded, as here, every run before the fix). The leader now writes a series' window
 * when it goes live. In process, against the real Redis on DB 15 with a prefix of its own.
 */
const REDIS_URL = 'redis://127.0.0.1:6379/15';
const HISTORY = 100;

describe("the leader writes a configured custom interval's history for the edges", () => {
  const prefix = `spec-seedwindows-${process.pid}-${Date.now()}:`;
  let ingest: IngestNode;
  let edge: EdgeNode;
  let r: Redis;
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    const common = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, symbols: ['BTCUSDT'], intervals: ['1m', '2m'], port: 0, host: '127.0.0.1', clientDir: '', seriesDir: 'series', bufferSize: 200, historyOnConnect: HISTORY, log: silentLogger };
    ingest = await startIngest({ ...common, source: 'sim', simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 }, leaseTtlMs: 1500 });
    await ingest.app.ready;
    edge = await startEdge(common);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await edge?.stop();
    await ingest?.stop();
    await deletePrefix(r, prefix);
    r.disconnect();
  }, 30_000);

  it("an edge's client of the custom interval gets its whole history, equal to the exchange's", async () => {
    for (let deadline = Date.now() + 30_000; ; await new Promise((res) => setTimeout(res, 100))) {
      const h = (await (await fetch(`${edge.url}/health`)).json()) as { status: string; notReady: string[] };
      if (h.status === 'ok') break;
      if (Date.now() > deadline) throw new Error(`edge not ready: ${h.notReady.join('; ')}`);
    }
    const c = new EngineClient(`${edge.url.replace('http', 'ws')}/ws/BTCUSDT?interval=2m`);
    clients.push(c);
    await c.until((x) => x.messages.some((m) => m.type === 'historical'), 20_000, 'historical');
    const bars = (c.messages.find((m) => m.type === 'historical') as unknown as { data: WireCandle[] }).data;
    expect(bars).toHaveLength(HISTORY);
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.time - bars[i - 1]!.time).toBe(2 * 60_000);
    const closed = bars.filter((b) => b.is_closed);
    const truth = ingest.app.sim!.truth('BTCUSDT', '2m', closed[0]!.time, closed.at(-1)!.time);
    expect(closed.map((b) => [b.time, b.open, b.high, b.low, b.close, b.volume])).toEqual(truth.map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume]));
  }, 60_000);
});
