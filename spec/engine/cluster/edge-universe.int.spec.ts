import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';

/**
 * SYMBOLS=* on an edge, as on ROLE=all: every symbol the leader's markets list as trading is followed
 * at all times (an edge started with it exited: "invalid symbol '*'"). A symbol that stops trading
 * ends and is let go; one that starts is followed. In process (the leader's catalog refresh is
 * shortened here), against the real Redis on DB 15 with a prefix of its own.
 */
const REDIS_URL = 'redis://127.0.0.1:6379/15';
const until = async (ok: () => boolean, ms: number, what: string) => {
  for (const deadline = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
};

describe('an edge with SYMBOLS=* follows the whole universe the leader lists', () => {
  const prefix = `spec-edgeuniverse-${process.pid}-${Date.now()}:`;
  const symbols = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'];
  let ingest: IngestNode;
  let edge: EdgeNode;
  let r: Redis;
  const clients: EngineClient[] = [];
  const ws = (symbol: string) => {
    const c = new EngineClient(`${edge.url.replace('http', 'ws')}/ws/${symbol}?interval=1m`);
    clients.push(c);
    return c;
  };
  const health = async () => (await (await fetch(`${edge.url}/health`)).json()) as { status: string; series: number; onDemand: { live: number }; notReady: string[] };

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    const common = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, symbols: ['*'], intervals: ['1m'], port: 0, host: '127.0.0.1', clientDir: '', seriesDir: '', bufferSize: 200, historyOnConnect: 100, log: silentLogger };
    ingest = await startIngest({ ...common, source: 'sim', simOptions: { symbols, pushIntervalMs: 100, clockSpeed: 60 }, catalogRefreshMs: 300, leaseTtlMs: 1500 });
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

  it('follows every trading symbol: ready with them all, a client gets its history first, nothing on demand', async () => {
    let h = await health();
    for (const deadline = Date.now() + 20_000; h.status !== 'ok'; h = await health()) {
      if (Date.now() > deadline) throw new Error(`edge not ready: ${h.notReady.join('; ')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(h.series).toBe(3);
    const c = ws('SOLUSDT');
    await c.until((x) => x.live().length >= 2, 20_000, 'live candles');
    expect(c.messages[0]).toMatchObject({ type: 'historical', symbol: 'SOLUSDT' });
    // The bootstrap's history, not only the bars written since the cluster started (the leader's heal
    // covered no series with SYMBOLS=*).
    expect((c.messages[0] as { data: unknown[] }).data.length).toBe(100);
    expect(edge.demand.counts().live).toBe(0);
  }, 45_000);

  it('a symbol that stops trading ends and is let go; one that trades again is followed again', async () => {
    const c = ws('ETHUSDT');
    await c.until((x) => x.live().length >= 1, 20_000, 'live candles');
    ingest.app.sim!.market.setStatus('ETHUSDT', 'BREAK');
    await c.until((x) => x.closeCode !== undefined, 10_000, 'the series ended');
    expect(c.closeCode).toBe(4000);
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
    await until(() => edge.feed.size === 2, 10_000, 'ETHUSDT let go');
    ingest.app.sim!.market.setStatus('ETHUSDT', 'TRADING');
    await until(() => edge.feed.size === 3, 10_000, 'ETHUSDT followed again');
    const again = ws('ETHUSDT');
    await again.until((x) => x.live().length >= 1, 20_000, 'live candles again');
    expect(again.messages[0]).toMatchObject({ type: 'historical', symbol: 'ETHUSDT' });
    expect(edge.demand.counts().live).toBe(0);
  }, 60_000);
});
