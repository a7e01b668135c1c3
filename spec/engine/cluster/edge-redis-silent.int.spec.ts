import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../engine/src/cluster/edge-node.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * An edge whose connections to Redis go silent (a NAT's or firewall's flow dropped: no reset, no
 * error, TCP retrying for about 15 minutes) reconnects them, and its clients stream on, on the same
 * socket, with no update missing. Before, it told them `stale` and kept the dead connections for as
 * long as the test ran (a chart-under-faults review: 60 s, a chart 20 bars behind, while a new
 * connection would have worked at once). The real Redis (DB 15), the edge's connections through a
 * proxy that swallows what its open connections carry; the ingest node and the simulator in this process.
 */
const redisUp = await hasRedis('an edge whose Redis connections go silent');
const HANG_MS = 500;

describe.runIf(redisUp)('an edge whose Redis connections go silent', () => {
  let cluster: InProcessCluster;
  let proxy: HoleProxy;
  let edge: EdgeNode;
  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'silent',
      common: { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50 },
      ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 } },
    });
    const url = new URL(REDIS_URL);
    proxy = await HoleProxy.start(Number(url.port || 6379), url.hostname);
    edge = await cluster.addEdge({ redisUrl: `redis://127.0.0.1:${proxy.port}${url.pathname}`, redisCommandTimeoutMs: HANG_MS });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await proxy?.close();
  }, 30_000);

  it('reconnects them: its client is told stale, then streams on on the same socket with every offset (reproduced: stale for good)', async () => {
    const client = cluster.clientAt(edge, '/ws/BTCUSDT?interval=1m');
    await client.until((c) => c.live().length >= 5, 30_000, 'live candles through the proxied edge');
    proxy.holeExisting();
    const atHole = client.messages.length;
    await client.until((c) => c.messages.slice(atHole).some((m) => m.type === 'status' && m.upstream === 'stale'), 10_000, 'stale while the connections are silent');
    const atStale = client.messages.length;
    await client.until((c) => c.messages.slice(atStale).filter((m) => m.type === 'live_candle').length >= 10, 20_000, 'live candles again after the reconnect');
    expect(client.closeCode).toBeUndefined();
    // Nothing lost across the silence: no reload, one epoch, offsets one by one (the edge repaired
    // the gap from the series' history).
    const live = client.live();
    expect(client.messages.slice(atHole).filter((m) => m.type === 'historical')).toEqual([]);
    expect(new Set(live.map((m) => m.epoch)).size).toBe(1);
    const offsets = live.map((m) => m.offset!);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i], `offset after ${offsets[i - 1]}`).toBe(offsets[i - 1]! + 1);
    expect(client.messages.at(-1)).not.toMatchObject({ type: 'status', upstream: 'stale' });
  }, 60_000);
});
