import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../engine/src/cluster/edge-node.ts';
import type { Config } from '../../../engine/src/config/config.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';

/**
 * New derived-series instances are rationed per address for the whole cluster (ON_DEMAND_PER_MIN,
 * burst 16): what an address started on one edge counts on the other. In process, two edges on the
 * real Redis's DB 15 under a prefix of their own.
 */
const redisUp = await hasRedis('derived-series ration shared by edges');

describe.runIf(redisUp)('derived-series ration shared by edges', () => {
  let cluster: InProcessCluster;
  let second: EdgeNode;
  // Behind a proxy on loopback (X-Forwarded-For names the client); per-address variant cap off.
  const common: Partial<Config> = { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 100, onDemandPerMinute: 2, trustProxy: ['127.0.0.1'], maxConnectionsPerAddress: 0, seriesDir: 'series' };

  beforeAll(async () => {
    cluster = await startInProcessCluster({ name: 'sharedration', common, ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 }, leaseTtlMs: 1500 } });
    second = await cluster.addEdge();
    await cluster.edgeReady();
  }, 60_000);

  afterAll(() => cluster?.stop(), 30_000);

  const connect = (edge: { url: string }, address: string, periods: Array<number | undefined>) => {
    const series = periods.map((p) => (p === undefined ? 'rsi' : `rsi:period=${p}`)).join(',');
    return cluster.clientAt(edge, `/ws/BTCUSDT?interval=1m&series=${encodeURIComponent(series)}`, address);
  };

  it('an address that started 16 instances on one edge is refused a 17th on the other (reproduced: each edge had its own ration); another address is not', { timeout: 90_000 }, async () => {
    const first = connect(cluster.edge, '203.0.113.20', Array.from({ length: 16 }, (_, i) => 30 + i));
    await first.until((x) => x.historical() !== undefined, 30_000, 'historical with 16 new instances');
    const refused = connect(second, '203.0.113.20', [50]);
    await refused.until((x) => x.closeCode !== undefined, 15_000, 'the refusal');
    expect(refused.closeCode).toBe(4000);
    expect(refused.messages[0]).toMatchObject({ type: 'error', code: 'rate_limited' });
    // (The 16 variant places of the series are taken: rsi as it comes.)
    const other = connect(second, '198.51.100.20', [undefined]);
    await other.until((x) => x.historical() !== undefined, 30_000, "another address's historical");
  });
});
