import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { type EdgeNode, startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { FencedWriter } from '../../../engine/src/cluster/fenced-writer.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { RESUME_CATCHUP_MS } from '../../../engine/src/server/ws-route.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * A client whose edge died resumes on another edge whose feed is behind the dead one's: it has seen
 * offsets this edge has not applied yet. Reproduced in CI under load (the edge-loss browser spec): the
 * edge answered a fresh `historical` at its own, older offset. It now waits for its feed to reach
 * the client's offset (bounded), then answers `recovered`. An edge, in process, fed by a fenced
 * writer on a redis-server of the spec's own.
 */
const id = seriesId('BTCUSDT', '1m');
const PREFIX = 'ahead:';

const redisUp = await hasRedisServer('resume on an edge behind the client');

describe.runIf(redisUp)('resume on an edge behind the client', () => {
  let server: RedisProcess;
  let redis: Redis;
  let writer: FencedWriter;
  let edge: EdgeNode;
  let v = 0;
  const clients: EngineClient[] = [];
  const keys = leaseKeys(PREFIX);
  /** `n` updates of the forming bar of minute 1. */
  const write = async (n: number) => {
    for (let i = 0; i < n; i++, v++) await writer.write('tok', id, { openTime: 60_000, open: 1, high: 2, low: 0, close: 1 + v / 100, volume: v + 1, closed: false });
  };
  const open = (query: string) => {
    const c = new EngineClient(`${edge.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m${query}`);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = new Redis(server.url);
    await redis.set(keys.lease, 'tok');
    writer = new FencedWriter({ redis, keyPrefix: PREFIX, leaseKey: keys.lease, bufferSize: 100, historyUpdates: 100 });
    await write(5);
    edge = await startEdge({ redisUrl: server.url, redisKeyPrefix: PREFIX, port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 100, resumeUpdates: 100, clientDir: '', seriesDir: '', log: silentLogger });
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await edge?.stop();
    redis?.disconnect();
    await server?.stop();
  }, 30_000);

  it('waits for the updates the client saw, then answers recovered; live continues after them', async () => {
    const first = open('');
    await first.until((c) => c.historical() !== undefined, 5000, 'historical');
    const { epoch, offset } = first.historical()!;
    expect(offset).toBe(5);
    // It saw 6 to 8 on its dead edge; this one has not applied them yet.
    const ahead = open(`&epoch=${epoch}&since=${offset! + 3}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(ahead.messages.filter((m) => m.type !== 'status')).toEqual([]);
    await write(3);
    await ahead.until((c) => c.messages.some((m) => m.type === 'recovered' || m.type === 'historical'), 5000, 'the first message');
    expect(ahead.messages.find((m) => m.type === 'recovered' || m.type === 'historical')).toMatchObject({ type: 'recovered', epoch, offset: offset! + 3, data: [] });
    await write(1);
    await ahead.until((c) => c.live().length >= 1, 5000, 'a live update');
    expect(ahead.live().map((m) => m.offset)).toEqual([offset! + 4]);
    expect(ahead.live()[0]).toMatchObject({ close: 1 + (v - 1) / 100 });
  });

  it('gives up after RESUME_CATCHUP_MS with a fresh snapshot; an offset further ahead than the history is not waited for', async () => {
    const probe = open('');
    await probe.until((c) => c.historical() !== undefined, 5000, 'historical');
    const { epoch, offset } = probe.historical()!;
    const t0 = performance.now();
    const stalled = open(`&epoch=${epoch}&since=${offset! + 2}`);
    const wild = open(`&epoch=${epoch}&since=${offset! + 1_000_000}`);
    // At once: before the stalled one's RESUME_CATCHUP_MS could have run out (1 s was short for a socket
    // and a snapshot on a loaded machine; anything under RESUME_CATCHUP_MS still tells "not waited for").
    await wild.until((c) => c.historical() !== undefined, RESUME_CATCHUP_MS - 200, 'a snapshot at once');
    expect(wild.historical()).toMatchObject({ recovered: false, epoch, offset });
    expect(stalled.historical()).toBeUndefined();
    await stalled.until((c) => c.historical() !== undefined, RESUME_CATCHUP_MS + 3000, 'a snapshot after the wait');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(RESUME_CATCHUP_MS - 50);
    expect(stalled.historical()).toMatchObject({ recovered: false, epoch, offset });
  });
});
