import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * An ingest node whose connections to Redis go silent reconnects them and writes on as the leader
 * (or stands by, if another node took the lead meanwhile): before, it stayed on the dead connections
 * for good, `degraded`, and the cluster had lost its standby without anyone saying so (a
 * chart-under-faults review). The real Redis (DB 15), the node's connections through a proxy that
 * swallows what its open connections carry; the node follows its built-in simulator.
 */
const redisUp = await hasRedis('an ingest node whose Redis connections go silent');

describe.runIf(redisUp)('an ingest node whose Redis connections go silent', () => {
  const prefix = `spec-ingest-silent-${process.pid}-${Date.now()}:`;
  let proxy: HoleProxy;
  let node: IngestNode;
  let redis: Redis;
  beforeAll(async () => {
    const url = new URL(REDIS_URL);
    proxy = await HoleProxy.start(Number(url.port || 6379), url.hostname);
    redis = new Redis(REDIS_URL);
    node = await startIngest({
      redisUrl: `redis://127.0.0.1:${proxy.port}${url.pathname}`,
      redisKeyPrefix: prefix,
      source: 'sim',
      simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 },
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      port: 0,
      host: '127.0.0.1',
      clientDir: '',
      seriesDir: '',
      leaseTtlMs: 1500,
      redisCommandTimeoutMs: 500,
      log: silentLogger,
    });
    await node.app.ready;
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    await proxy?.close();
    await deletePrefix(redis, prefix);
    redis?.disconnect();
  }, 30_000);

  it('reconnects them and writes on as the leader (reproduced: never wrote again)', async () => {
    await expect.poll(() => node.lease.state.leader, { timeout: 15_000 }).toBe(true);
    const offset = async () => Number(await redis.hget(`${prefix}pos:BTCUSDT:1m`, 'offset'));
    await expect.poll(offset, { timeout: 15_000 }).toBeGreaterThan(0);
    proxy.holeExisting();
    // Nothing it writes on the silent connections reaches Redis.
    await new Promise((r) => setTimeout(r, 300));
    const atHole = await offset();
    // Its connections reconnected within twice REDIS_COMMAND_TIMEOUT_MS (before its 1.5 s lease ran
    // out: it may keep the lead, or step down and take it again), it writes on.
    await expect.poll(async () => node.lease.state.leader && (await offset()) > atHole + 5, { timeout: 20_000 }).toBe(true);
  }, 60_000);
});
