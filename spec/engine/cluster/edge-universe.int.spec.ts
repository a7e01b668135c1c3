import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';

/**
 * SYMBOLS=* on an edge, as on ROLE=all: every symbol the leader's markets list as trading is followed
 * at all times (an edge started with it exited: "invalid symbol '*'"). A symbol that stops trading
 * ends and is let go; one that starts is followed. In process (the leader's catalog refresh is
 * shortened here), against the real Redis on DB 15 with a prefix of its own.
 */
const until = async (ok: () => boolean, ms: number, what: string) => {
  for (const deadline = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
};

const redisUp = await hasRedis('an edge with SYMBOLS=* follows the whole universe the leader lists');

describe.runIf(redisUp)('an edge with SYMBOLS=* follows the whole universe the leader lists', () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'edgeuniverse',
      common: { symbols: ['*'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 100 },
      ingest: { simOptions: { symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 100, clockSpeed: 60 }, catalogRefreshMs: 300, leaseTtlMs: 1500 },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('follows every trading symbol: ready with them all, a client gets its history first, nothing on demand', async () => {
    await cluster.edgeReady(20_000);
    const h = (await (await fetch(`${cluster.edge.url}/health`)).json()) as { series: number };
    expect(h.series).toBe(3);
    const c = cluster.client('/ws/SOLUSDT?interval=1m');
    await c.until((x) => x.live().length >= 2, 20_000, 'live candles');
    expect(c.messages[0]).toMatchObject({ type: 'historical', symbol: 'SOLUSDT' });
    // The bootstrap's history, not only the bars written since the cluster started (the leader's heal
    // covered no series with SYMBOLS=*).
    expect((c.messages[0] as { data: unknown[] }).data.length).toBe(100);
    expect(cluster.edge.demand.counts().live).toBe(0);
  }, 45_000);

  it('a symbol that stops trading ends and is let go; one that trades again is followed again', async () => {
    const { edge, ingest } = cluster;
    const c = cluster.client('/ws/ETHUSDT?interval=1m');
    await c.until((x) => x.live().length >= 1, 20_000, 'live candles');
    ingest.app.sim!.market.setStatus('ETHUSDT', 'BREAK');
    await c.until((x) => x.closeCode !== undefined, 10_000, 'the series ended');
    expect(c.closeCode).toBe(4000);
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
    await until(() => edge.feed.size === 2, 10_000, 'ETHUSDT let go');
    ingest.app.sim!.market.setStatus('ETHUSDT', 'TRADING');
    await until(() => edge.feed.size === 3, 10_000, 'ETHUSDT followed again');
    const again = cluster.client('/ws/ETHUSDT?interval=1m');
    await again.until((x) => x.live().length >= 1, 20_000, 'live candles again');
    expect(again.messages[0]).toMatchObject({ type: 'historical', symbol: 'ETHUSDT' });
    expect(edge.demand.counts().live).toBe(0);
  }, 60_000);
});
