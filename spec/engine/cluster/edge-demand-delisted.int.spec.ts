import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';

/**
 * An on-demand symbol that stops trading ends on the edges too: the leader's catalog drops it, it
 * writes the markets and says so on the markets channel, and the edge tells the series' clients
 * (`symbol_not_trading`, close 4000). In process (the leader's catalog refresh is shortened here),
 * against the real Redis on DB 15 with a prefix of its own.
 */
const REDIS_URL = 'redis://127.0.0.1:6379/15';

describe('on-demand symbol through an edge that stops trading', () => {
  const prefix = `spec-edgedemand-${process.pid}-${Date.now()}:`;
  let ingest: IngestNode;
  let edge: EdgeNode;
  let r: Redis;
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    ingest = await startIngest({
      redisUrl: REDIS_URL,
      redisKeyPrefix: prefix,
      source: 'sim',
      simOptions: { symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 100, clockSpeed: 60 },
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      port: 0,
      host: '127.0.0.1',
      clientDir: '',
      seriesDir: '',
      bufferSize: 200,
      historyOnConnect: 100,
      catalogRefreshMs: 300,
      leaseTtlMs: 1500,
      log: silentLogger,
    });
    await ingest.app.ready;
    const deadline = Date.now() + 10_000;
    while (!ingest.lease.state.leader || !(await r.exists(`${prefix}cluster:markets`))) {
      if (Date.now() > deadline) throw new Error('the ingest node did not lead and write its markets');
      await new Promise((res) => setTimeout(res, 50));
    }
    edge = await startEdge({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 100, clientDir: '', seriesDir: '', log: silentLogger });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await edge?.stop();
    await ingest?.stop();
    await deletePrefix(r, prefix);
    r.disconnect();
  }, 30_000);

  it('clients of the series get symbol_not_trading and close 4000; a new ask is refused on the edge', async () => {
    const c = new EngineClient(`${edge.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m`);
    clients.push(c);
    await c.until((x) => x.live().length >= 3, 20_000, 'live candles');
    expect(c.messages[0]!.type).toBe('loading');
    expect(edge.demand.counts().live).toBe(1);
    ingest.app.sim!.market.setStatus('ETHUSDT', 'BREAK');
    await c.until((x) => x.closeCode !== undefined, 10_000, 'the series ended');
    expect(c.closeCode).toBe(4000);
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
    expect(edge.demand.counts()).toEqual({ asked: 0, following: 0, live: 0 });
    const again = new EngineClient(`${edge.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m`);
    clients.push(again);
    await again.until((x) => x.closeCode !== undefined, 10_000, 'refused');
    expect(again.messages[0]).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
  }, 45_000);
});
