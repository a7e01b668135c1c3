import type { Redis } from 'ioredis';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeBar } from '../../../engine/src/cluster/bar-codec.ts';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { EdgeHistory } from '../../../engine/src/cluster/edge-history.ts';
import { encodeAsk, parseAsk, parseReply } from '../../../engine/src/cluster/history-ask.ts';
import { LeaderHistory } from '../../../engine/src/cluster/leader-history.ts';
import { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis } from '../../helpers/services.ts';
import { suiteConnections } from '../../helpers/suite-connections.ts';

/**
 * An edge publishes an unanswered history ask again (same id) until it is answered. The leader
 * works on an ask once: a copy of one it is still working on takes no slot of `maxInFlight` and gets
 * no answer (a `busy` one would reach the edge before the bars and fail its request). Once answered,
 * the id is forgotten. Real Redis (DB 15, a prefix of its own): one ingest node's lease, its
 * LeaderHistory, and an EdgeHistory; the older bars are a function held until the spec lets it go.
 */
const M = 60_000;
const bar = (minute: number): Bar => ({ openTime: minute * M, open: 1, high: 2, low: 0.5, close: 1.5, volume: minute, closed: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits for `done` (a hang guard of 10 s, not a timing: the assertions come after). */
const until = async (done: () => boolean, what: string) => {
  for (const deadline = Date.now() + 10_000; !done(); await sleep(10)) if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
};

const redisUp = await hasRedis('history re-asks (Redis)');

describe.runIf(redisUp)('history re-asks (Redis)', () => {
  const prefix = `spec-histreask-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  const series = seriesId('BTCUSDT', '1m');
  const { conns, redis: connect } = suiteConnections(prefix);
  let r: Redis;
  let lease: LeaderLease;
  let history: LeaderHistory;
  /** Every ask's id as the leader's subscriber delivered it, after the LeaderHistory took it. */
  const heard: string[] = [];
  /** Replies on the edges' channels, as [edge, reply]. */
  const replies: Array<[string, ReturnType<typeof parseReply>]> = [];
  const served: string[] = [];
  let olderBars: (id: SeriesId, endTime: number, limit: number, address: string) => Promise<Bar[]>;
  let release = () => {};
  const hold = () => {
    const gate = new Promise<void>((res) => (release = res));
    return (endTime: number, limit: number) => gate.then(() => [bar(97), bar(98), bar(99), bar(100)].filter((b) => b.openTime <= endTime).slice(-limit));
  };

  const ask = (id: string, o: { node?: string; address?: string } = {}) =>
    r.publish(keys.historyAsk, encodeAsk({ id, node: o.node ?? 'edge-9', series, endTime: 100 * M, limit: 2, address: o.address ?? 'slow' }));

  beforeAll(async () => {
    r = connect();
    const edgeSub = connect();
    await edgeSub.subscribe(keys.historyReply + 'edge-9', keys.historyReply + 'edge-8');
    edgeSub.on('message', (c: string, t: string) => replies.push([c.slice(keys.historyReply.length), parseReply(t)]));
    const redis = connect();
    lease = new LeaderLease({ redis, keys, nodeId: 'ingest-a', ttlMs: 3000 });
    const subscriber = connect({ autoResubscribe: false });
    history = new LeaderHistory({
      redis,
      subscriber,
      keys,
      lease,
      olderBars: (id, endTime, limit, address) => {
        served.push(address);
        return olderBars(id, endTime, limit, address);
      },
      maxInFlight: 3,
    });
    // Registered after the LeaderHistory's listener: an id here has been handled there.
    subscriber.on('message', (c: string, t: string) => c === keys.historyAsk && heard.push(parseAsk(t)?.id ?? '?'));
    lease.start();
    await firstValueFrom(lease.leadership$.pipe(filter((s) => s.leader)));
    const subscribers = async () => Number(((await r.pubsub('NUMSUB', keys.historyAsk)) as [string, number])[1]);
    for (const deadline = Date.now() + 10_000; (await subscribers()) < 1; await sleep(20)) if (Date.now() > deadline) throw new Error('the leader did not subscribe to the history asks');
  });
  afterEach(() => release()); // a failed spec's held asks end too: the next starts with no slot taken
  afterAll(async () => {
    history?.stop();
    await lease?.stop();
    if (r) await deletePrefix(r, prefix);
    for (const c of conns) c.disconnect();
  });

  it("a copy of an ask being worked on takes no slot and gets no answer; another edge's same id is its own ask; once answered the id is free", async () => {
    const slow = hold();
    olderBars = (_id, endTime, limit, address) => (address === 'slow' ? slow(endTime, limit) : Promise.resolve([bar(7)]));
    await ask('s1');
    await ask('s1');
    await ask('s1');
    await ask('s1', { node: 'edge-8' });
    await ask('q1', { address: 'quick' });
    // Replies go out in the order the asks came (one connection): anything for the copies came before q1's.
    await until(() => replies.some(([, x]) => x?.id === 'q1'), "q1's reply");
    expect(replies).toEqual([['edge-9', { id: 'q1', bars: [bar(7)] }]]);
    expect(served).toEqual(['slow', 'slow', 'quick']);
    release();
    await until(() => replies.length >= 3, "the held asks' replies");
    expect(replies.slice(1).sort(([a], [b]) => a.localeCompare(b))).toEqual([
      ['edge-8', { id: 's1', bars: [bar(99), bar(100)] }],
      ['edge-9', { id: 's1', bars: [bar(99), bar(100)] }],
    ]);
    // Answered: a late copy is worked on again (nothing is kept of an answered ask).
    await ask('s1', { address: 'quick' });
    await until(() => replies.length >= 4, "the late copy's reply");
    expect(replies[3]).toEqual(['edge-9', { id: 's1', bars: [bar(7)] }]);
  });

  it("an edge's request re-asked while the leader is still fetching its page gets the page, not busy", async () => {
    replies.length = 0;
    served.length = 0;
    heard.length = 0;
    const slow = hold();
    olderBars = (_id, endTime, limit) => slow(endTime, limit);
    // The edge keeps minute 100 of a set of 1 (bufferSize 1: full), so older bars are the leader's.
    await r.zadd(seriesKeys(series, prefix).candles, 100 * M, encodeBar(bar(100)));
    const edge = new EdgeHistory({ redis: r, subscriber: connect({ autoResubscribe: false }), keys, keyPrefix: prefix, node: 'edge-1', bufferSize: 1, reaskMs: 20 });
    await edge.start();
    try {
      let settled = false;
      const got = edge.olderBars(series, 100 * M, 3, '10.0.0.7').catch((e: unknown) => e);
      void got.finally(() => (settled = true));
      // More copies than maxInFlight (3) reach the leader before it has the page (or the request ends early).
      await until(() => heard.length >= 5 || settled, 'five copies of the ask at the leader');
      // Worked on once while the page was being fetched. A copy the edge sent (every 20 ms) before
      // the answer reached it may come to the leader after it answered, and is worked on again (an
      // answered ask is forgotten: the first spec): on a loaded machine one did, so only the fetches
      // begun before the page came are counted here.
      const servedWhileFetching = [...served];
      release();
      expect(await got).toEqual([bar(98), bar(99), bar(100)]);
      expect(new Set(heard).size).toBe(1);
      expect(servedWhileFetching).toEqual(['10.0.0.7']);
      expect(new Set(served)).toEqual(new Set(['10.0.0.7']));
    } finally {
      edge.stop();
    }
  });
});
