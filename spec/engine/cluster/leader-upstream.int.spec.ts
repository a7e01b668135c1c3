import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { UPSTREAM_SET_LUA } from '../../../engine/src/cluster/cluster-scripts.ts';
import type { EngineClient } from '../../helpers/ws-client.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';

/**
 * An edge has no upstream of its own: its clients' status badge said `live` while the leader's
 * connection to the exchange was down and nothing came (an edge knew only that a leader held the
 * lease). The leader now writes its upstream state to Redis (fenced by its lease) and edges tell
 * their clients that. In process: an ingest node on the simulator, an edge, DB 15 under a prefix.
 */
const redisUp = await hasRedis('cluster: edges tell clients the leader’s upstream state');

describe.runIf(redisUp)('cluster: edges tell clients the leader’s upstream state', () => {
  let cluster: InProcessCluster;
  let client: EngineClient;
  const statuses = () => client.messages.flatMap((m) => (m.type === 'status' ? [m.upstream] : []));
  const lastStatus = () => statuses().at(-1);
  const health = async () => (await (await fetch(`${cluster.edge.url}/health`)).json()) as { warnings: string[]; leader: { upstream: string | null } };

  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'leader-upstream',
      common: { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 50, staleAfterMs: 1500 },
      ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100 }, leaseTtlMs: 1500 },
    });
    await cluster.edgeReady();
    client = cluster.client('/ws/BTCUSDT?interval=1m');
    await client.until(() => lastStatus() === 'live', 10_000, 'status live');
  }, 60_000);
  afterAll(() => cluster?.stop(), 30_000);

  it("the leader's upstream dropped and refused: the edge's clients are told `reconnecting`, then `live` once it is back", async () => {
    const sim = cluster.ingest.app.sim!;
    const before = statuses().length;
    sim.faults.refuseConnections(6000);
    sim.faults.dropConnections();
    await client.until(() => statuses().slice(before).includes('reconnecting'), 8000, 'status reconnecting');
    const h = await health();
    expect(h.leader.upstream).toBe('reconnecting');
    expect(h.warnings).toContain("the leader's upstream is reconnecting");
    await client.until(() => lastStatus() === 'live' && statuses().slice(before).includes('reconnecting'), 30_000, 'status live again');
    expect((await health()).warnings).toEqual([]);
  }, 60_000);

  it("only the lease's holder writes the state: a stale token's write is refused", async () => {
    const keys = leaseKeys(cluster.prefix);
    const was = await cluster.redis.get(keys.upstream);
    expect(was).toBe('live');
    expect(await cluster.redis.eval(UPSTREAM_SET_LUA, 2, keys.lease, keys.upstream, 'not-the-leader:00', 'reconnecting', '5000')).toBe(0);
    expect(await cluster.redis.get(keys.upstream)).toBe('live');
  });
});
