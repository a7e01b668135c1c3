import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { startDemandCluster } from '../../helpers/demand-cluster.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * A series an edge let go of (nobody held it there) but still follows is asked for again while the
 * leader is at its cap: the leader refuses it, and the client is told so. It used to be served at
 * once, from the edge's copy, a series nobody wrote any more: a `historical` and then no update ever
 * (an attacker-style probe: 857 of 2,750 clients at the cap), while the edge's touches had the leader
 * refuse it again at every scan. One ingest node capped at one on-demand series, two edges, the
 * simulator and a redis-server of the test's own, as child processes.
 */
const redisUp = await hasRedisServer('a series asked for again after its edge let go (child processes)');

describe.runIf(redisUp)('a series asked for again after its edge let go (child processes)', () => {
  let cluster: Awaited<ReturnType<typeof startDemandCluster>> | undefined;
  let r: Redis;
  let nodes: NodeProcess[] = [];
  const clients: EngineClient[] = [];
  const ws = (edge: NodeProcess, path: string) => {
    const c = new EngineClient(`${edge.ws}${path}`);
    clients.push(c);
    return c;
  };
  const until = async (what: string, pred: () => Promise<boolean>, ms = 20_000) => {
    for (const end = Date.now() + ms; !(await pred()); await new Promise((res) => setTimeout(res, 100))) if (Date.now() > end) throw new Error(`timed out: ${what}`);
  };

  beforeAll(async () => {
    // The edge follows a series it let go of for long after: the case under test.
    cluster = await startDemandCluster(['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], { IDLE_SERIES_MS: '120000', MAX_ON_DEMAND_SERIES: '1' });
    ({ r, nodes } = cluster);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  }, 60_000);

  it('refused by the leader at its cap: the client gets series_capacity, not a snapshot that never updates; once there is room it streams', async () => {
    const [, edge1, edge2] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const a = ws(edge1, '/ws/ETHUSDT?interval=1m');
    await a.until((c) => c.live().length >= 2, 30_000, 'ETHUSDT live on edge-1');
    a.close();
    // Edge-1 lets go (no client for a touch period) and the leader releases the series; edge-1 still follows it.
    await until('the leader released ETHUSDT', async () => !(await r.zrange('cluster:wanted', 0, -1)).includes('ETHUSDT:1m'));
    const b = ws(edge2, '/ws/SOLUSDT?interval=1m');
    await b.until((c) => c.live().length >= 1, 30_000, 'SOLUSDT live on edge-2: the leader at its cap');

    const c = ws(edge1, '/ws/ETHUSDT?interval=1m');
    await c.until((x) => x.messages.some((m) => m.type === 'error'), 20_000, 'a refusal');
    expect(c.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'series_capacity' });
    expect(c.messages.map((m) => m.type), JSON.stringify(c.messages.map((m) => ({ ...m, data: undefined })))).not.toContain('historical');
    // Refused and let go of: the edge no longer keeps it wanted (the leader refused it at every scan).
    await new Promise((res) => setTimeout(res, 2500));
    expect(await r.zrange('cluster:wanted', 0, -1)).not.toContain('ETHUSDT:1m');

    b.close();
    await until('the leader released SOLUSDT', async () => !(await r.zrange('cluster:wanted', 0, -1)).includes('SOLUSDT:1m'));
    const d = ws(edge1, '/ws/ETHUSDT?interval=1m');
    await d.until((x) => x.live().length >= 2, 30_000, 'ETHUSDT live again on edge-1');
    expect(d.historical()!.data.length).toBeGreaterThan(10);

    // The same through GET /candles: refused (503), not the edge's copy that nobody writes any more.
    d.close();
    await until('the leader released ETHUSDT again', async () => !(await r.zrange('cluster:wanted', 0, -1)).includes('ETHUSDT:1m'));
    const b2 = ws(edge2, '/ws/SOLUSDT?interval=1m');
    await b2.until((x) => x.live().length >= 1, 30_000, 'SOLUSDT live on edge-2 again');
    const res = await request(`${edge1.url}/candles/ETHUSDT/1m?limit=5`);
    expect(res.statusCode).toBe(503);
    expect(await res.body.json()).toMatchObject({ code: 'series_capacity' });
  }, 120_000);
});
