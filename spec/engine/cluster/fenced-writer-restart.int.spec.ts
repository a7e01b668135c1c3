import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { FencedWriter } from '../../../engine/src/cluster/fenced-writer.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * A write in flight when Redis dies, and Redis back from an older snapshot. ioredis used to re-send
 * the call on the new connection, with the run id of the Redis it was made for: the restored log
 * still names that run id, so the write went on under the old epoch from the snapshot's offset,
 * reusing offsets clients had already seen with other bars (a code review's repro). The writer's
 * calls are not re-sent now: the in-flight one fails (its caller keeps and resends it), and the next
 * write, knowing the new run id, starts a new epoch. Own redis-server, persisting only on SAVE.
 */
const redisUp = await hasRedisServer('fenced writer across a Redis restart from an older snapshot (own redis-server)');
const bar = (i: number): Bar => ({ openTime: i * 60_000, open: 1, high: 1, low: 1, close: 1, volume: i, closed: false });

describe.runIf(redisUp)('fenced writer across a Redis restart from an older snapshot (own redis-server)', () => {
  let server: RedisProcess;
  let redis: Redis;
  let admin: Redis;
  const keys = leaseKeys('t:');
  const id = seriesId('BTCUSDT', '1m');

  beforeAll(async () => {
    server = await RedisProcess.start({ args: ['--save', '', '--appendonly', 'no'] });
    // As the ingest node's connection is made.
    redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n) => Math.min(100 * n, 1000) });
    redis.on('error', () => {});
    admin = new Redis(server.url, { retryStrategy: (n) => Math.min(50 * n, 500) });
    admin.on('error', () => {});
  });

  afterAll(async () => {
    redis?.disconnect();
    admin?.disconnect();
    await server?.stop();
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const reconnected = async () => {
    for (const end = Date.now() + 5000; redis.status !== 'ready'; await sleep(20)) if (Date.now() > end) throw new Error('not reconnected');
  };

  /** A log of 8 updates whose first 5 Redis saved (a snapshot); its epoch. */
  async function logPastTheSnapshot(w: FencedWriter): Promise<string> {
    await admin.flushall();
    await admin.set(keys.lease, 'T');
    const { epoch } = (await w.write('T', id, bar(1))) as { epoch: string };
    for (let i = 2; i <= 5; i++) await w.write('T', id, bar(i));
    await admin.save(); // the snapshot: offsets up to 5
    for (let i = 6; i <= 8; i++) expect(await w.write('T', id, bar(i))).toMatchObject({ kind: 'written', offset: i, epoch });
    return epoch;
  }

  /** Redis stalls with the next write on its way, dies, and comes back from its snapshot: what that write got. */
  async function writeAcrossRestart(w: FencedWriter): Promise<unknown> {
    // Redis holds every command from its answer on, for longer than any stall of this process (a
    // 1 s DEBUG SLEEP sent 50 ms before the write could end, or start after it, on a loaded machine).
    await admin.call('CLIENT', 'PAUSE', '10000', 'ALL');
    const inFlight = w.write('T', id, bar(9)).then(
      (r) => r,
      (e: Error) => e,
    );
    await sleep(100);
    await server.restart();
    return inFlight;
  }

  const writer = () => new FencedWriter({ redis, keyPrefix: 't:', leaseKey: keys.lease, bufferSize: 100, historyUpdates: 100 });

  it('fails the write in flight; the next one starts a new epoch, no offset of the old one used again', async () => {
    const w = writer();
    const first = await logPastTheSnapshot(w);
    expect(await writeAcrossRestart(w)).toBeInstanceOf(Error);
    expect(await admin.hget(seriesKeys(id, 't:').pos, 'offset')).toBe('5');
    // The next write (its caller resends the one that failed) goes under a new epoch.
    await reconnected();
    const next = await w.write('T', id, bar(9));
    expect(next).toMatchObject({ kind: 'written', offset: 1 });
    expect((next as { epoch: string }).epoch).not.toBe(first);
    w.close();
  }, 30_000);

  it("fails it too when it is the script's first call on a new connection (ioredis sends that one as EVAL, not EVALSHA)", async () => {
    const w = writer();
    const first = await logPastTheSnapshot(w);
    // A blip: the writer's connection is new, its scripts not used on it yet.
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await sleep(300);
    await reconnected();
    // Another of its scripts first (a derived series' point): the run id is known again.
    await w.writePoint('T', seriesKeys(seriesId('ETHUSDT', '1m'), 't:x:'), { time: 60_000, value: 1, closed: true });
    expect(await writeAcrossRestart(w)).toBeInstanceOf(Error);
    expect(await admin.hget(seriesKeys(id, 't:').pos, 'offset')).toBe('5');
    expect(await admin.hget(seriesKeys(id, 't:').pos, 'epoch')).toBe(first);
    w.close();
  }, 30_000);

  it('tells once that the Redis it writes to is another (its run id changed): the ingest node takes the lead again, healing what it lost', async () => {
    const changes: Array<[string, string]> = [];
    const w = new FencedWriter({ redis, keyPrefix: 't:', leaseKey: keys.lease, bufferSize: 100, historyUpdates: 100, onRedisChanged: (a, b) => changes.push([a, b]) });
    // The test before ends as Redis restarts: its connection may not be back yet (no offline queue).
    await reconnected();
    await admin.flushall();
    await admin.set(keys.lease, 'T');
    await w.write('T', id, bar(1));
    // A reconnect to the same Redis is no change.
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await sleep(300);
    await reconnected();
    await w.write('T', id, bar(2));
    expect(changes).toEqual([]);
    await server.restart();
    await reconnected();
    await admin.set(keys.lease, 'T');
    await w.write('T', id, bar(3));
    await w.write('T', id, bar(4));
    expect(changes).toHaveLength(1);
    expect(changes[0]![0]).not.toBe(changes[0]![1]);
    // A node that takes the lead after a restart heals in taking it: no change to report then (it
    // took the lead a second time, and healed twice).
    await server.restart();
    await reconnected();
    await admin.set(keys.lease, 'T');
    w.newTerm();
    await w.write('T', id, bar(5));
    expect(changes).toHaveLength(1);
    w.close();
  }, 30_000);
});
