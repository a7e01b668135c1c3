import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { seriesId, type SeriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome } from '../../../engine/src/pipeline/series-demand.ts';
import type { EdgeDemand } from '../../../engine/src/cluster/edge-demand.ts';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { encodeServed } from '../../../engine/src/cluster/demand-member.ts';
import { bareEdgeDemand } from '../../helpers/bare-edge-demand.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const prefix = `test:edge-answered:${process.pid}:`;

/** What a want() has come to after a moment: its outcome, or still waiting. */
const after = (p: Promise<DemandOutcome>, ms: number) => Promise.race([p, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms))]);

/**
 * An edge reads the leader's answer when the leader names the series on the answers' channel, and
 * serves its clients when the feed says the series loaded, rather than at its next poll (two polls
 * were most of an edge's time to a cold symbol's first `historical`). The poll here is a minute, so
 * only the messages can serve these asks in time; without a subscriber, the poll alone answers.
 */
describe.runIf(await hasRedis('edge demand, answers as they come'))('an edge told of the leader\'s answer (Redis DB 15)', () => {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const sub = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const keys = leaseKeys(prefix);
  const demands: EdgeDemand[] = [];
  /** An edge whose feed loads a series a moment after it is followed, and says so. */
  const edge = (withSubscriber: boolean, pollMs: number) => {
    const loaded = new Set<string>();
    const d: EdgeDemand = bareEdgeDemand(r, keys, 'edge-a', {
      ...(withSubscriber && { subscriber: sub }),
      pollMs,
      feed: {
        follow: async (ids: readonly SeriesId[]) => {
          setTimeout(() => {
            for (const id of ids) loaded.add(id.key);
            for (const id of ids) d.loaded(id);
          }, 20);
        },
        unfollowAndFree: async () => {},
        isLoaded: (id) => loaded.has(id.key),
        isWritten: (id) => loaded.has(id.key),
      },
    });
    demands.push(d);
    return d;
  };
  /** The leader's answer: the key, then its name on the channel (as LeaderDemand.answer does). */
  const answer = async (id: SeriesId, a: Parameters<typeof encodeServed>[0]) => {
    await r.set(keys.served + id.key, encodeServed(a), 'PX', 60_000);
    await r.publish(keys.answered, id.key);
  };
  afterAll(async () => {
    for (const d of demands) d.stop();
    const left = await r.keys(`${prefix}*`);
    if (left.length) await r.del(...left);
    r.disconnect();
    sub.disconnect();
  });

  it('a `live` answer is read when the leader names it, and the clients served when the series loaded', async () => {
    const d = edge(true, 60_000);
    await new Promise((res) => setTimeout(res, 300)); // subscribed
    const id = seriesId('ANSAUSDT', '1m');
    const p = d.want(id, '203.0.113.9');
    expect(await after(p, 300)).toBe('waiting');
    await answer(id, { state: 'live' });
    expect(await after(p, 2000)).toEqual({ ok: true });
    expect(d.isLive(id)).toBe(true);
  });

  it('with MAX_ON_DEMAND_SERIES=0 an ask is refused at once, as such, and asks nothing of the leader', async () => {
    const d = bareEdgeDemand(r, keys, 'edge-z', { maxSeries: 0 });
    demands.push(d);
    const id = seriesId('ANSZUSDT', '1m');
    expect(await after(d.want(id, '203.0.113.30'), 1000)).toEqual({ ok: false, code: 'series_capacity', message: expect.stringMatching(/only its configured series \(MAX_ON_DEMAND_SERIES=0\)/) });
    expect(await r.zscore(keys.wanted, id.key)).toBeNull();
    expect(await r.exists(keys.holders + id.key)).toBe(0);
  });

  it('a refusal is passed on when the leader names it', async () => {
    const d = edge(true, 60_000);
    await new Promise((res) => setTimeout(res, 300));
    const id = seriesId('ANSBUSDT', '1m');
    const p = d.want(id, '203.0.113.10');
    await answer(id, { state: 'refused', code: 'series_capacity', message: 'full' });
    expect(await after(p, 2000)).toEqual({ ok: false, code: 'series_capacity', message: 'full' });
  });

  it('an answer named for another series does not serve this one; one lost with the connection is read by the poll', async () => {
    const d = edge(true, 60_000);
    await new Promise((res) => setTimeout(res, 300));
    const id = seriesId('ANSCUSDT', '1m');
    const p = d.want(id, '203.0.113.11');
    // The answer is there, the message names another series: nothing tells this edge to look.
    await r.set(keys.served + id.key, encodeServed({ state: 'live' }), 'PX', 60_000);
    await r.publish(keys.answered, 'OTHERUSDT:1m');
    expect(await after(p, 1000)).toBe('waiting');
    // No subscriber (as after a lost message): the poll reads it.
    const polled = edge(false, 50);
    expect(await after(polled.want(id, '203.0.113.12'), 2000)).toEqual({ ok: true });
  });

  it("a configured series not loaded yet (the edge just started) is served once it loads, not at once (reproduced: a historical of 0 bars, and never the history)", async () => {
    let loaded = false;
    const d: EdgeDemand = bareEdgeDemand(r, keys, 'edge-d', {
      configured: () => true,
      feed: { follow: async () => {}, unfollowAndFree: async () => {}, isLoaded: () => loaded, isWritten: () => loaded },
    });
    demands.push(d);
    const id = seriesId('BTCUSDT', '1m');
    expect(d.isLive(id)).toBe(false);
    let told = false;
    const p = d.want(id, '203.0.113.15', undefined, () => (told = true));
    expect(await after(p, 300)).toBe('waiting');
    expect(told).toBe(true);
    loaded = true;
    d.loaded(id);
    expect(await after(p, 1000)).toEqual({ ok: true });
    expect(await after(d.want(id, '203.0.113.16'), 100)).toEqual({ ok: true });
  });

  it('an ask whose follow fails is refused, not left waiting (its clients sat on loading until they left)', async () => {
    const d: EdgeDemand = bareEdgeDemand(r, keys, 'edge-c', {
      pollMs: 50,
      feed: {
        follow: () => Promise.reject(new Error('ERR SUBSCRIBE refused')),
        unfollowAndFree: async () => {},
        isLoaded: () => false,
        isWritten: () => false,
      },
    });
    demands.push(d);
    const id = seriesId('ANSEUSDT', '1m');
    const p = d.want(id, '203.0.113.14');
    await answer(id, { state: 'live' });
    expect(await after(p, 2000)).toMatchObject({ ok: false, code: 'series_capacity' });
  });

  it('a series it serves that the leader dropped (its touches went stale) is asked again, served on meanwhile (no leader for a while, no answer for long, end nothing); refused then, its clients are told (reproduced: frozen on live, told nothing)', async () => {
    const ended: string[] = [];
    const loaded = new Set<string>();
    let leader = true;
    const d: EdgeDemand = bareEdgeDemand(r, keys, 'edge-b', {
      pollMs: 50,
      touchEveryMs: 100,
      answerTimeoutMs: 300,
      leaderPresent: () => leader,
      ended: (id, code) => void ended.push(`${id.key} ${code}`),
      feed: {
        follow: async (ids: readonly SeriesId[]) => void ids.forEach((id) => loaded.add(id.key)),
        unfollowAndFree: async () => {},
        isLoaded: (id) => loaded.has(id.key),
        isWritten: (id) => loaded.has(id.key),
      },
    });
    demands.push(d);
    const id = seriesId('ANSDUSDT', '1m');
    const p = d.want(id, '203.0.113.13');
    await answer(id, { state: 'live' });
    expect(await after(p, 2000)).toEqual({ ok: true });
    // The leader found its touches stale (this edge paused a few seconds): it let go and deleted the answer.
    await r.pipeline().zrem(keys.wanted, id.key).del(keys.served + id.key).exec();
    const nudges = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const heard: string[] = [];
    nudges.on('message', (_c, m: string) => void heard.push(m));
    await nudges.subscribe(keys.demand);
    try {
      // Asked again: the leader is nudged.
      for (let i = 0; i < 100 && !heard.some((m) => m.includes(id.key)); i++) await new Promise((res) => setTimeout(res, 20));
      expect(heard.some((m) => m.includes(id.key))).toBe(true);
      // No leader seen for a while, and longer than the answer's deadline: its clients are served on (a
      // Redis restarted without its answers, a long failover), not ended.
      leader = false;
      await new Promise((res) => setTimeout(res, 600));
      expect(ended).toEqual([]);
      expect(d.isLive(id)).toBe(true);
      leader = true;
      // Held again at its caps, it refuses: the series ends for its clients, told why.
      await answer(id, { state: 'refused', code: 'series_capacity', message: 'full' });
      for (let i = 0; i < 100 && !ended.length; i++) await new Promise((res) => setTimeout(res, 20));
      expect(ended).toEqual([`${id.key} series_capacity`]);
    } finally {
      nudges.disconnect();
    }
  });
});
