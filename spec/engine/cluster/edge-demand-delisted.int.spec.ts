import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';

/**
 * An on-demand symbol that stops trading ends on the edges too: the leader's catalog drops it, it
 * writes the markets and says so on the markets channel, and the edge tells the series' clients
 * (`symbol_not_trading`, close 4000). In process (the leader's catalog refresh is shortened here),
 * against the real Redis on DB 15 with a prefix of its own.
 */
const redisUp = await hasRedis('on-demand symbol through an edge that stops trading');

describe.runIf(redisUp)('on-demand symbol through an edge that stops trading', () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'edgedemand',
      common: { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 100 },
      ingest: { simOptions: { symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 100, clockSpeed: 60 }, catalogRefreshMs: 300, leaseTtlMs: 1500 },
      beforeEdge: async (ingest, r, prefix) => {
        const deadline = Date.now() + 10_000;
        while (!ingest.lease.state.leader || !(await r.exists(`${prefix}cluster:markets`))) {
          if (Date.now() > deadline) throw new Error('the ingest node did not lead and write its markets');
          await new Promise((res) => setTimeout(res, 50));
        }
      },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('clients of the series get symbol_not_trading and close 4000; a new ask is refused on the edge', async () => {
    const { edge, ingest } = cluster;
    const c = cluster.client('/ws/ETHUSDT?interval=1m');
    await c.until((x) => x.live().length >= 3, 20_000, 'live candles');
    expect(c.messages[0]!.type).toBe('loading');
    expect(edge.demand.counts().live).toBe(1);
    ingest.app.sim!.market.setStatus('ETHUSDT', 'BREAK');
    await c.until((x) => x.closeCode !== undefined, 10_000, 'the series ended');
    expect(c.closeCode).toBe(4000);
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
    expect(edge.demand.counts()).toEqual({ asked: 0, following: 0, live: 0 });
    const again = cluster.client('/ws/ETHUSDT?interval=1m');
    await again.until((x) => x.closeCode !== undefined, 10_000, 'refused');
    expect(again.messages[0]).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
  }, 45_000);
});
