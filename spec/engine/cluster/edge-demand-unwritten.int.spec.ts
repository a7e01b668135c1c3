import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome } from '../../../engine/src/pipeline/series-demand.ts';
import { type EdgeDemand, UNWRITTEN_GRACE_MS } from '../../../engine/src/cluster/edge-demand.ts';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { encodeServed } from '../../../engine/src/cluster/demand-member.ts';
import { bareEdgeDemand } from '../../helpers/bare-edge-demand.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const prefix = `test:edge-unwritten:${process.pid}:`;

/** What a want() has come to after a moment: its outcome, or still waiting. */
const after = (p: Promise<DemandOutcome>, ms: number) => Promise.race([p, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms))]);

/**
 * An edge serves an on-demand series once the leader answered `live` and its follower loaded a
 * snapshot holding a written log. A snapshot read before any write (an answer left from an earlier
 * hold, or one a leader gave too early) has no log: served then, its clients got an empty
 * `historical` and a second one when the window came. An empty series (no bars yet) is served after
 * UNWRITTEN_GRACE_MS all the same.
 */
describe.runIf(await hasRedis('edge demand, unwritten logs'))('an on-demand series whose log is not written yet (Redis DB 15)', () => {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const keys = leaseKeys(prefix);
  let clock = 1_000_000;
  const written = new Set<string>();
  const demands: EdgeDemand[] = [];
  const edge = () => {
    const d = bareEdgeDemand(r, keys, 'edge-u', {
      now: () => clock,
      feed: { follow: async () => {}, unfollowAndFree: async () => {}, isLoaded: () => true, isWritten: (id) => written.has(id.key) },
    });
    demands.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of demands) d.stop();
    const left = await r.keys(`${prefix}*`);
    if (left.length) await r.del(...left);
    r.disconnect();
  });

  it('waits for the first write, then serves', async () => {
    const d = edge();
    const id = seriesId('UNWAUSDT', '1m');
    await r.set(keys.served + id.key, encodeServed({ state: 'live' }));
    const p = d.want(id, '203.0.113.7');
    expect(await after(p, 1000)).toBe('waiting');
    expect(d.isLive(id)).toBe(false);
    written.add(id.key);
    expect(await after(p, 1000)).toEqual({ ok: true });
    expect(d.isLive(id)).toBe(true);
  });

  it('a log still unwritten after the grace (an empty series) is served as it is', async () => {
    const d = edge();
    const id = seriesId('UNWBUSDT', '1m');
    await r.set(keys.served + id.key, encodeServed({ state: 'live' }));
    const p = d.want(id, '203.0.113.8');
    expect(await after(p, 1000)).toBe('waiting');
    clock += UNWRITTEN_GRACE_MS - 1;
    expect(await after(p, 600)).toBe('waiting');
    clock += 1;
    expect(await after(p, 1000)).toEqual({ ok: true });
  });
});
