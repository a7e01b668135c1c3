import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeBar } from '../../../engine/src/cluster/bar-codec.ts';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { EdgeHistory } from '../../../engine/src/cluster/edge-history.ts';
import { encodeReply, type HistoryAsk, parseAsk } from '../../../engine/src/cluster/history-ask.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { HistoryRefusedError } from '../../../engine/src/domain/errors.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * An edge's history older than its window: what Redis keeps first, then asks to the leader on the
 * cluster's channel, answered on the edge's own. The leader here is this spec on a connection of its
 * own, so it can stay silent, refuse or answer late. Real Redis, DB 15, a prefix of its own.
 */
const M = 60_000;
const id = seriesId('BTCUSDT', '1m');
const bar = (minute: number): Bar => ({ openTime: minute * M, open: 1, high: 2, low: 0.5, close: 1.5, volume: minute, closed: true });
const bars = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => bar(from + i));

const redisUp = await hasRedis('edge history: kept bars, then the leader (Redis)');

describe.runIf(redisUp)('edge history: kept bars, then the leader (Redis)', () => {
  const prefix = `spec-edgehist-${process.pid}-${Date.now()}:`;
  const keys = leaseKeys(prefix);
  let r: Redis;
  let edgeSub: Redis;
  let leaderSub: Redis;
  let asks: HistoryAsk[] = [];
  /** How the scripted leader answers each ask (undefined: it stays silent). */
  let answer: (a: HistoryAsk, n: number) => string | undefined = () => undefined;
  const histories: EdgeHistory[] = [];

  const edge = async (o: { bufferSize?: number; timeoutMs?: number; reaskMs?: number; maxPending?: number } = {}) => {
    const h = new EdgeHistory({ redis: r, subscriber: edgeSub, keys, keyPrefix: prefix, node: 'edge-1', bufferSize: o.bufferSize ?? 100, ...o });
    histories.push(h);
    await h.start();
    return h;
  };
  /** The exchange's bars below `endTime` (minutes 0..999 exist). */
  const exchange = (a: HistoryAsk) => bars(0, 1000).filter((b) => b.openTime <= a.endTime).slice(-a.limit);

  beforeAll(async () => {
    r = new Redis(REDIS_URL);
    edgeSub = new Redis(REDIS_URL, { autoResubscribe: false });
    leaderSub = new Redis(REDIS_URL);
    await leaderSub.subscribe(keys.historyAsk);
    leaderSub.on('message', (_c, text: string) => {
      const a = parseAsk(text);
      if (!a) return;
      asks.push(a);
      const reply = answer(a, asks.filter((x) => x.id === a.id).length);
      if (reply) void r.publish(keys.historyReply + a.node, reply);
    });
    // Redis keeps minutes 900..999 of the series: a full set (bufferSize 100).
    await r.zadd(seriesKeys(id, prefix).candles, ...bars(900, 1000).flatMap((b) => [b.openTime, encodeBar(b)]));
  });
  afterEach(() => {
    for (const h of histories.splice(0)) h.stop();
    asks = [];
    answer = () => undefined;
  });
  afterAll(async () => {
    await deletePrefix(r, prefix);
    for (const c of [r, edgeSub, leaderSub]) c?.disconnect();
  });

  it('within what Redis keeps: no ask; below it: the rest from the leader, one page per ask, oldest first', async () => {
    answer = (a) => encodeReply({ id: a.id, bars: exchange(a) });
    // No copy of an ask (re-asked while a reply is slow to come) in the pages counted here.
    const h = await edge({ reaskMs: 60_000 });
    expect(await h.olderBars(id, 999 * M, 50)).toEqual(bars(950, 1000));
    expect(asks).toEqual([]);
    expect(await h.olderBars(id, 949 * M, 1500, '10.0.0.7')).toEqual(bars(0, 950));
    // 900..949 from Redis; below 900 the leader's pages of at most 1,000: the first has 900 (the series starts at 0).
    expect(asks.map((a) => [a.endTime, a.limit, a.address, a.node])).toEqual([[900 * M - 1, 1000, '10.0.0.7', 'edge-1']]);
    asks = [];
    expect(await h.olderBars(id, 500 * M, 1200)).toEqual(bars(0, 501));
    expect(asks.map((a) => [a.endTime, a.limit])).toEqual([[500 * M, 1000]]);
  });

  it('a set shorter than BUFFER_SIZE is all there is: no ask', async () => {
    const h = await edge({ bufferSize: 200 });
    expect(await h.olderBars(id, 999 * M, 150)).toEqual(bars(900, 1000));
    expect(asks).toEqual([]);
  });

  it('an ask nobody leads for is published again, and the next leader answers it', async () => {
    answer = (a, n) => (n >= 2 ? encodeReply({ id: a.id, bars: exchange(a) }) : undefined);
    const h = await edge({ reaskMs: 200 });
    expect(await h.olderBars(id, 800 * M, 10)).toEqual(bars(791, 801));
    // Copies of the one ask: a third goes out when the answer takes longer than 200 ms (a loaded machine).
    expect(asks.length).toBeGreaterThanOrEqual(2);
    expect(new Set(asks.map((a) => a.id)).size).toBe(1);
  });

  it("the leader's refusal reaches the caller as ROLE=all's (HistoryRefusedError with its retry); a failure as an error", async () => {
    // Time enough for an answer's three hops through Redis on a loaded machine: a timeout is not what is tested here.
    const h = await edge({ timeoutMs: 5000, reaskMs: 200 });
    answer = (a) => encodeReply({ id: a.id, error: { reason: 'rate', message: 'too many history requests from this address: retry in 7 s', retryAfterSec: 7 } });
    const refused = await h.olderBars(id, 800 * M, 10).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HistoryRefusedError);
    expect(refused).toMatchObject({ message: 'too many history requests from this address: retry in 7 s', info: { reason: 'rate', retryAfterSec: 7 } });
    answer = (a) => encodeReply({ id: a.id, error: { reason: 'failed', message: 'HTTP 500 from the exchange' } });
    await expect(h.olderBars(id, 800 * M, 10)).rejects.toThrow(new Error('HTTP 500 from the exchange'));
  });

  // Apart, with a short timeout: silence takes as long on a loaded machine.
  it('silence times out', async () => {
    const h = await edge({ timeoutMs: 600, reaskMs: 200 });
    await expect(h.olderBars(id, 800 * M, 10)).rejects.toThrow("the cluster's leader did not answer for older candles in time");
  });

  it('asks waiting at once are bounded: one more is refused as busy at once; garbage on its channel is counted, not taken', async () => {
    const malformed: number[] = [];
    const h = new EdgeHistory({ redis: r, subscriber: edgeSub, keys, keyPrefix: prefix, node: 'edge-1', bufferSize: 100, maxPending: 2, timeoutMs: 1000, onMalformed: (n) => malformed.push(n) });
    histories.push(h);
    await h.start();
    const waiting = [h.olderBars(id, 800 * M, 10), h.olderBars(id, 700 * M, 10)].map((p) => p.catch((e: Error) => e.message));
    const third = await h.olderBars(id, 600 * M, 10).catch((e: unknown) => e);
    expect(third).toMatchObject({ name: 'HistoryRefusedError', info: { reason: 'busy', retryAfterSec: 1 } });
    await r.publish(keys.historyReply + 'edge-1', 'not a reply');
    await r.publish(keys.historyReply + 'edge-1', JSON.stringify({ id: asks[0]?.id ?? 'x', bars: ['garbage'] }));
    expect(await Promise.all(waiting)).toEqual(["the cluster's leader did not answer for older candles in time", "the cluster's leader did not answer for older candles in time"]);
    // The garbage reaches the edge's connection when it does: after a stall, the timeouts fire first.
    for (const deadline = Date.now() + 5000; malformed.length < 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    expect(malformed).toEqual([1, 1]);
  });
});
