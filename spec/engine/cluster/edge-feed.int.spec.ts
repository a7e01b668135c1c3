import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Hub } from '../../../engine/src/broadcast/hub.ts';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { EdgeFeed } from '../../../engine/src/cluster/edge-feed.ts';
import { EdgePositions } from '../../../engine/src/cluster/edge-positions.ts';
import { FencedWriter } from '../../../engine/src/cluster/fenced-writer.ts';
import { SeriesFollower } from '../../../engine/src/cluster/series-follower.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createMemoryBarStore } from '../../../engine/src/store/memory-bar-store.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

const ids = [seriesId('BTCUSDT', '1m'), seriesId('ETHUSDT', '1m')];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function client(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(20 * n, 200) });
  r.on('error', () => {});
  return r;
}

/** An edge (feed, memory windows, positions, hub) whose hub records what it would send, per topic. */
function edge(url: string, historyUpdates = 1000, { checkEveryMs = 200, lazy = false, retryDelayMs = 50, log = undefined as ((level: 'info' | 'warn', msg: string) => void) | undefined } = {}) {
  const redis = client(url);
  // As on an edge: the feed restores its subscriptions after a reconnect, ioredis does not.
  const subscriber = new Redis(url, { lazyConnect: lazy, autoResubscribe: false, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(20 * n, 200) });
  subscriber.on('error', () => {});
  const store = createMemoryBarStore({ bufferSize: 100 });
  const hub = new Hub(100, 'sim');
  const sent = new Map<string, string[]>();
  hub.attach({
    subscribers: () => 1,
    publish: (topic, message) => (sent.get(topic) ?? sent.set(topic, []).get(topic)!).push(message) > 0,
  });
  const positions = new EdgePositions({ updates: historyUpdates, maxAgeMs: 600_000 });
  const malformed = { n: 0 };
  const feed = new EdgeFeed({ redis, subscriber, keyPrefix: 'e:', store, hub, positions, bufferSize: 100, historyMaxAgeMs: 600_000, checkEveryMs, retryDelayMs, log, onMalformed: (n) => (malformed.n += n) });
  const close = () => {
    feed.stop();
    redis.disconnect();
    subscriber.disconnect();
  };
  return { redis, subscriber, store, hub, sent, positions, feed, malformed, close };
}

const redisUp = await hasRedisServer('edge feed over a real redis-server');

describe.runIf(redisUp)('edge feed over a real redis-server', () => {
  let server: RedisProcess;
  let redis: Redis;
  let writer: FencedWriter;
  let minute = 0;
  const keys = leaseKeys('e:');
  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = client(server.url);
    await redis.set(keys.lease, 'tok');
    writer = new FencedWriter({ redis, keyPrefix: 'e:', leaseKey: keys.lease, bufferSize: 100, historyUpdates: 50 });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const truth = new Map<string, Map<number, Bar>>();
  /** `together`: every update in one turn (one script call), else one after another. */
  async function write(n: number, together = false) {
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) minute++;
      for (const id of ids) {
        const bar: Bar = { openTime: minute * 60_000, open: 1, high: 2, low: 0, close: i, volume: i + 1, closed: i % 3 === 2 };
        const call = writer.write('tok', id, bar);
        if (together) calls.push(call);
        else await call;
        (truth.get(id.key) ?? truth.set(id.key, new Map()).get(id.key)!).set(bar.openTime, bar);
      }
    }
    await Promise.all(calls);
  }
  const sorted = (m: Map<number, Bar>) => [...m.values()].sort((a, b) => a.openTime - b.openTime);
  /** Offsets of the live messages an edge published on a series topic: contiguous, increasing. */
  const offsets = (sent: Map<string, string[]>, topic: string) => (sent.get(topic) ?? []).map((m) => JSON.parse(m) as { type: string; offset: number });

  it('subscribes, then loads snapshot and position; updates before and after arrive once, in order', async () => {
    await write(6);
    const e = edge(server.url);
    try {
      await e.feed.follow(ids);
      const writing = write(30);
      await writing;
      await until(() => ids.every((id) => e.positions.position(id).offset === 36), 'caught up');
      for (const id of ids) {
        expect(e.store.window(id).last(100)).toEqual(sorted(truth.get(id.key)!));
        const live = offsets(e.sent, `kline/${id.symbol}/1m`).filter((m) => m.type === 'live_candle');
        expect(live.length).toBeGreaterThanOrEqual(30);
        live.forEach((m, i) => i && expect(m.offset).toBe(live[i - 1]!.offset + 1));
        expect(live.at(-1)!.offset).toBe(36);
      }
    } finally {
      e.close();
    }
  });

  it('updates that cannot be applied (a fault in the edge) are said once and each series loaded again once; nothing escapes to ioredis (it would end the process)', async () => {
    const warnings: string[] = [];
    // The faults all come within one retry delay, on a loaded machine too (at 50 ms, 8 updates written
    // one after another outlasted it: a second reload each, counted as a failure).
    const e = edge(server.url, 1000, { log: (_l, m) => warnings.push(m), retryDelayMs: 1000 });
    try {
      await e.feed.follow(ids);
      const publishBar = e.hub.publishBar.bind(e.hub);
      // Every update fails for a while (each series' later ones too: its offset moved past the first).
      let faults = 8;
      const resyncs = vi.spyOn(SeriesFollower.prototype, 'resync');
      e.hub.publishBar = (...a: Parameters<typeof publishBar>) => {
        if (faults-- > 0) throw new Error('a fault');
        return publishBar(...a);
      };
      await write(12, true);
      const whole = () => ids.every((id) => JSON.stringify(e.store.window(id).last(100)) === JSON.stringify(sorted(truth.get(id.key)!)));
      await until(whole, 'whole again');
      // One reload per series, not one per failed update.
      expect(resyncs.mock.calls.length).toBeLessThanOrEqual(ids.length);
      resyncs.mockRestore();
      expect(warnings.filter((w) => /could not be applied/.test(w)).length).toBe(1);
    } finally {
      e.close();
    }
  });

  it('CLIENT KILL TYPE pubsub while the leader writes: the edge repairs the lost updates from the history (no hole)', async () => {
    const e = edge(server.url);
    try {
      await e.feed.follow(ids);
      await until(() => e.feed.loaded, 'loaded');
      const start = e.positions.position(ids[0]!).offset;
      const writing = write(40);
      await sleep(5);
      await redis.client('KILL', 'TYPE', 'pubsub');
      await writing;
      const end = (await redis.hget('e:pos:BTCUSDT:1m', 'offset'))!;
      await until(() => ids.every((id) => e.positions.position(id).offset === Number(end)), 'repaired');
      expect(e.feed.repairs).toBeGreaterThan(0);
      expect(e.feed.reloads).toBe(0);
      for (const id of ids) {
        const live = offsets(e.sent, `kline/${id.symbol}/1m`);
        expect(live.map((m) => m.offset)).toEqual(Array.from({ length: Number(end) - start }, (_, k) => start + k + 1));
        expect(e.store.window(id).last(100)).toEqual(sorted(truth.get(id.key)!));
      }
    } finally {
      e.close();
    }
  });

  it('subscribed during the connection handshake (ioredis reconnects and forgets it): subscribed again, updates come by pub/sub', async () => {
    // No position check in this test's time: an update can only come by the channel.
    const e = edge(server.url, 1000, { checkEveryMs: 3_600_000, lazy: true });
    try {
      // Redis takes a SUBSCRIBE sent before ioredis's ready check, then refuses the check (INFO) in
      // subscriber mode; ioredis reconnects and resubscribes only what a ready connection held.
      const followed = new Promise<void>((resolve, reject) => e.subscriber.once('connect', () => e.feed.follow(ids).then(resolve, reject)));
      void e.subscriber.connect().catch(() => undefined);
      await followed;
      await until(() => e.feed.loaded && e.subscriber.status === 'ready', 'loaded, ready');
      const start = ids.map((id) => e.positions.position(id).offset);
      await write(3);
      await until(() => ids.every((id, i) => e.positions.position(id).offset === start[i]! + 3), 'the updates, by pub/sub', 3000);
      const channel = seriesKeys(ids[0]!, 'e:').channel;
      expect(await redis.pubsub('NUMSUB', channel)).toEqual([channel, 1]);
    } finally {
      e.close();
    }
  });

  it("a log that vanished (Redis lost its data) keeps its clients' history until it is written again, rather than sending them an empty one", async () => {
    const e = edge(server.url, 1000, { checkEveryMs: 50 });
    try {
      await write(3);
      await e.feed.follow(ids);
      await until(() => e.feed.loaded, 'loaded');
      const topic = `kline/${ids[0]!.symbol}/1m`;
      const held = e.store.window(ids[0]!).last(100);
      const sentBefore = (e.sent.get(topic) ?? []).length;
      for (const id of ids) await redis.del(...Object.values(seriesKeys(id, 'e:')).filter((k) => !k.includes(':ch:')));
      truth.clear(); // what Redis holds from here on
      // As when Redis restarted without its data: the edge's subscription comes back, and it catches up.
      await redis.client('KILL', 'TYPE', 'pubsub');
      await sleep(500);
      const since = () => (e.sent.get(topic) ?? []).slice(sentBefore).map((m) => JSON.parse(m) as { type: string; epoch?: string; data?: unknown[] });
      expect(since().filter((m) => m.type === 'historical')).toEqual([]);
      expect(e.store.window(ids[0]!).last(100)).toEqual(held);
      // What it holds is still a written history: readiness does not wait for the rewrite (every edge
      // went 503 at once, its clients told `reconnecting`, while serving it).
      for (const id of ids) expect(e.feed.isWritten(id)).toBe(true);
      // Written anew (a new epoch): one reload, to what Redis holds now.
      await write(1);
      await until(() => since().some((m) => m.type === 'historical'), 'reloaded');
      const reloads = since().filter((m) => m.type === 'historical');
      expect(reloads).toHaveLength(1);
      expect(reloads[0]!.epoch).toBe(await redis.hget(seriesKeys(ids[0]!, 'e:').pos, 'epoch'));
      expect(reloads[0]!.data!.length).toBeGreaterThan(0);
    } finally {
      e.close();
    }
  });

  it('messages no leader publishes are counted malformed and skipped: an epoch not an id, a member past a bar\'s length, garbage (reproduced: each unknown epoch reloaded the series and sent its clients a historical)', async () => {
    const e = edge(server.url, 1000, { checkEveryMs: 3_600_000 });
    try {
      await write(1);
      await e.feed.follow(ids);
      await until(() => e.feed.loaded, 'loaded');
      const k = seriesKeys(ids[0]!, 'e:');
      const { epoch, offset } = e.positions.position(ids[0]!);
      const sentBefore = offsets(e.sent, 'kline/BTCUSDT/1m').length;
      const member = JSON.stringify([minute * 60_000, 1, 2, 0, 1, 1, 0]);
      for (const m of [`bad.epoch! ${offset + 1} ${member}`, `${'x'.repeat(65)} ${offset + 1} ${member}`, `${epoch} ${offset + 1} [1,2,3,4,5,6,0${' '.repeat(1000)}]`, 'garbage']) await redis.publish(k.channel, m);
      await write(1);
      await until(() => e.positions.position(ids[0]!).offset === offset + 1, 'the next update applied');
      expect(e.malformed.n).toBe(4);
      expect(e.feed.reloads).toBe(0);
      expect(offsets(e.sent, 'kline/BTCUSDT/1m').slice(sentBefore).map((m) => [m.type, m.offset])).toEqual([['live_candle', offset + 1]]);
    } finally {
      e.close();
    }
  });

  it('a stored offset moved back in the same epoch reloads the series at the next position check, said once (reproduced: every update up to the old offset dropped as seen, clients told live)', async () => {
    const lines: string[] = [];
    const e = edge(server.url, 1000, { checkEveryMs: 50, log: (_level, msg) => lines.push(msg) });
    try {
      await e.feed.follow(ids);
      await until(() => e.feed.loaded, 'loaded');
      await write(3);
      const pos = seriesKeys(ids[0]!, 'e:').pos;
      const epoch = await redis.hget(pos, 'epoch');
      const applied = Number(await redis.hget(pos, 'offset'));
      await until(() => e.positions.position(ids[0]!).offset === applied, 'applied');
      const sentBefore = offsets(e.sent, 'kline/BTCUSDT/1m').length;
      await redis.hset(pos, 'offset', String(applied - 2));
      await write(1);
      // Applied again from the offset Redis holds now, the same epoch: the update after it reaches clients.
      await until(() => e.positions.position(ids[0]!).offset === applied - 1, 'reloaded at the offset moved back');
      expect(e.positions.position(ids[0]!).epoch).toBe(epoch);
      const reloads = offsets(e.sent, 'kline/BTCUSDT/1m').slice(sentBefore).filter((m) => m.type === 'historical');
      expect(reloads.map((m) => m.offset < applied)).toEqual([true]);
      expect(lines.filter((l) => l.includes('the stored offset went back'))).toHaveLength(1);
    } finally {
      e.close();
    }
  });

  it('a loss longer than the kept history reloads the series and sends its clients a fresh snapshot (recovered:false); one log line for every series reloaded in a period', async () => {
    const lines: string[] = [];
    const e = edge(server.url, 1000, { log: (_level, msg) => lines.push(msg) });
    try {
      await e.feed.follow(ids);
      await until(() => e.feed.loaded, 'loaded');
      // Gone for longer than 50 updates (the history's cap), written at once: written one by one, the
      // periodic position check (command connection) would repair from the history as they come.
      e.subscriber.disconnect();
      await write(60, true);
      const end = Number(await redis.hget('e:pos:BTCUSDT:1m', 'offset'));
      e.subscriber.connect().catch(() => undefined);
      await until(() => e.positions.position(ids[0]!).offset === end, 'reloaded');
      expect(e.feed.reloads).toBeGreaterThan(0);
      const msgs = offsets(e.sent, 'kline/BTCUSDT/1m');
      expect(msgs.at(-1)).toMatchObject({ type: 'historical', recovered: false, offset: end });
      expect(e.store.window(ids[0]!).last(100)).toEqual(sorted(truth.get(ids[0]!.key)!));
      await until(() => e.feed.reloads >= 2, 'both series reloaded');
      // Reloads are the clients' doing at a leader's cap (each series written again, a new epoch): not a line each.
      expect(lines.filter((l) => l.includes('reloaded from a snapshot'))).toHaveLength(1);
    } finally {
      e.close();
    }
  });
});

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}
