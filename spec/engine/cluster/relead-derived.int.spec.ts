import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceKeys, leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis } from '../../helpers/services.ts';
import type { EngineClient } from '../../helpers/ws-client.ts';

/**
 * Redis loses its data while a chart follows a derived series through an edge, and the same node
 * leads again. Its term was numbered by INCR on a key that was lost too, so the new term could carry
 * the old one's number; the leader took the instance's window as written "in this term" and wrote
 * only its newest points, and the edge's chart was left with a few points of the series. A term is
 * now told apart by its lease token, and numbered above every term the node has seen. In process,
 * against the real Redis on DB 15 with a prefix of its own; deleting the prefix's keys stands for the
 * lost data.
 */
const HISTORY = 100;
type Point = { time: number };
type SeriesMsg = { type: string; series?: Record<string, Point[]> };

const redisUp = await hasRedis('a derived series after Redis lost its data and the same node leads again');

describe.runIf(redisUp)('a derived series after Redis lost its data and the same node leads again', () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'relead-derived',
      common: { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: HISTORY, seriesDir: 'series' },
      ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 50, clockSpeed: 60 }, leaseTtlMs: 1500 },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  /** The rsi points of each snapshot a client got, in order. */
  const snapshots = (c: EngineClient) => (c.messages as unknown as SeriesMsg[]).filter((m) => m.type === 'historical' && m.series).map((m) => m.series!.rsi ?? []);

  it("the chart's series is whole again, and the new term's number is above the old one's", async () => {
    await cluster.edgeReady();
    const c = cluster.client('/ws/BTCUSDT?interval=1m&series=rsi');
    await c.until((x) => (snapshots(x).at(-1)?.length ?? 0) >= HISTORY - 20, 30_000, 'a whole rsi');
    const whole = snapshots(c).at(-1)!.length;
    const term = cluster.ingest.lease.state.term!;

    const r = cluster.redis;
    await deletePrefix(r, cluster.prefix);
    for (const end = Date.now() + 10_000; !(await r.exists(leaseKeys(cluster.prefix).term)); await new Promise((res) => setTimeout(res, 50))) if (Date.now() > end) throw new Error('no new term');
    // The leader writes the instance's log anew (a new epoch); the edge reloads it, and a chart that
    // opens then gets the whole series (the open one keeps its points and takes the changed ones).
    const keys = instanceKeys('rsi', seriesId('BTCUSDT', '1m'), cluster.prefix);
    for (const end = Date.now() + 20_000; !(await r.exists(keys.pos)); await new Promise((res) => setTimeout(res, 100))) if (Date.now() > end) throw new Error('the log was not written anew');
    await new Promise((res) => setTimeout(res, 1500));
    const late = cluster.client('/ws/BTCUSDT?interval=1m&series=rsi');
    await late.until((x) => snapshots(x).length > 0, 30_000, 'a historical');
    expect(snapshots(late)[0]!.length).toBeGreaterThanOrEqual(whole - 5);
    expect(cluster.ingest.lease.state.term).toBeGreaterThan(term);
  }, 90_000);
});
