import type { Redis } from 'ioredis';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { encodeAsk, parseReply } from '../../../engine/src/cluster/history-ask.ts';
import { LeaderHistory } from '../../../engine/src/cluster/leader-history.ts';
import { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { HistoryRefusedError } from '../../../engine/src/domain/errors.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis } from '../../helpers/services.ts';
import { suiteConnections } from '../../helpers/suite-connections.ts';

/**
 * The leader's side of edges' history asks: only the node that leads answers (standbys hear every
 * ask too), on the asking edge's channel; refusals keep their kind; at most `maxInFlight` asks are
 * worked on at once; malformed asks are counted and never answered. Two ingest nodes' leases on real
 * Redis (DB 15, a prefix of its own); the older bars are the nodes' own (here: a function).
 */
const M = 60_000;
const bar = (minute: number): Bar => ({ openTime: minute * M, open: 1, high: 2, low: 0.5, close: 1.5, volume: minute, closed: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redisUp = await hasRedis('leader history (Redis)');

describe.runIf(redisUp)('leader history (Redis)', () => {
  const prefix = `spec-leaderhist-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  const { conns, redis: connect } = suiteConnections(prefix);
  let r: Redis;
  let edgeSub: Redis;
  const replies: string[] = [];
  const nodes: Array<{ lease: LeaderLease; history: LeaderHistory; served: string[] }> = [];
  let olderBars: (id: SeriesId, endTime: number, limit: number, address: string) => Promise<Bar[]>;
  const malformed: number[] = [];

  const ask = (id: string, o: Partial<{ endTime: number; limit: number; address: string }> = {}) =>
    r.publish(keys.historyAsk, encodeAsk({ id, node: 'edge-9', series: seriesId('BTCUSDT', '1m'), endTime: o.endTime ?? 100 * M, limit: o.limit ?? 3, address: o.address ?? '10.0.0.1' }));
  const waitReplies = async (n: number) => {
    // Up to 10 s: each reply is two Redis round trips (the ask, the answer), slower on a loaded machine.
    for (const deadline = Date.now() + 10_000; replies.length < n && Date.now() < deadline; ) await sleep(20);
    return replies.map((t) => parseReply(t));
  };

  beforeAll(async () => {
    r = connect();
    edgeSub = connect();
    await edgeSub.subscribe(keys.historyReply + 'edge-9');
    edgeSub.on('message', (_c, t: string) => replies.push(t));
    for (const name of ['ingest-a', 'ingest-b']) {
      const redis = connect();
      const lease = new LeaderLease({ redis, keys, nodeId: name, ttlMs: 3000 });
      const served: string[] = [];
      const history = new LeaderHistory({
        redis,
        subscriber: connect({ autoResubscribe: false }),
        keys,
        lease,
        olderBars: (id, endTime, limit, address) => {
          served.push(name);
          return olderBars(id, endTime, limit, address);
        },
        maxInFlight: 2,
        onMalformed: (n) => malformed.push(n),
      });
      nodes.push({ lease, history, served });
    }
    nodes[0]!.lease.start();
    await firstValueFrom(nodes[0]!.lease.leadership$.pipe(filter((s) => s.leader)));
    nodes[1]!.lease.start();
    // Both subscribed to the asks (Redis says so), not a fixed 200 ms: an ask published before the
    // leader's SUBSCRIBE lands is lost, and a new connection's subscribe takes longer on a loaded machine.
    const subscribers = async () => Number(((await r.pubsub('NUMSUB', keys.historyAsk)) as [string, number])[1]);
    for (const deadline = Date.now() + 10_000; (await subscribers()) < 2; await sleep(20)) if (Date.now() > deadline) throw new Error('the nodes did not subscribe to the history asks');
  });
  afterAll(async () => {
    for (const n of nodes) {
      n.history.stop();
      await n.lease.stop();
    }
    await deletePrefix(r, prefix);
    for (const c of conns) c.disconnect();
  });

  it('only the leader answers, with the bars its older-bars path gives for the ask (address included)', async () => {
    const seen: unknown[] = [];
    olderBars = (id, endTime, limit, address) => {
      seen.push([id.key, endTime, limit, address]);
      return Promise.resolve([bar(97), bar(98), bar(99), bar(100)]);
    };
    await ask('a1');
    expect(await waitReplies(1)).toEqual([{ id: 'a1', bars: [bar(98), bar(99), bar(100)] }]);
    expect(seen).toEqual([['BTCUSDT:1m', 100 * M, 3, '10.0.0.1']]);
    expect(nodes.map((n) => n.served.length)).toEqual([1, 0]);
  });

  it('a refusal keeps its kind and retry; any other failure is `failed` with its message', async () => {
    replies.length = 0;
    olderBars = (_id, _e, _l, address) =>
      address === 'greedy'
        ? Promise.reject(new HistoryRefusedError('too many history requests from this address: retry in 9 s', { info: { reason: 'rate', retryAfterSec: 9 } }))
        : Promise.reject(new Error('HTTP 500 from the exchange'));
    await ask('r1', { address: 'greedy' });
    await ask('f1');
    expect(await waitReplies(2)).toEqual([
      { id: 'r1', error: { reason: 'rate', message: 'too many history requests from this address: retry in 9 s', retryAfterSec: 9 } },
      { id: 'f1', error: { reason: 'failed', message: 'HTTP 500 from the exchange' } },
    ]);
  });

  it('at most maxInFlight asks are worked on at once: the next is refused as busy; malformed asks get no answer', async () => {
    replies.length = 0;
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    olderBars = () => gate.then(() => [bar(1)]);
    await ask('s1');
    await ask('s2');
    await ask('s3');
    await r.publish(keys.historyAsk, 'garbage');
    await r.publish(keys.historyAsk, JSON.stringify({ id: 'x', node: 'edge 9', symbol: 'BTCUSDT', interval: '1m', endTime: 1, limit: 1, address: 'a' }));
    expect(await waitReplies(1)).toEqual([{ id: 's3', error: { reason: 'busy', message: 'too many history requests waiting for the exchange: retry in 1 s', retryAfterSec: 1 } }]);
    release();
    const all = await waitReplies(3);
    expect(all.slice(1)).toEqual([
      { id: 's1', bars: [bar(1)] },
      { id: 's2', bars: [bar(1)] },
    ]);
    expect(malformed).toEqual([1, 1]);
  });
});
