import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisWatch } from '../../../engine/src/cluster/redis-watch.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * A cluster node started before Redis answered never checked its version (the start does, when Redis
 * answers then): on a Redis 6 every lease and write script failed to compile, and nothing said why.
 * The real Redis, through a proxy whose INFO replies say 6.x while asked to (a Redis replaced by an
 * older one, or the first one reached).
 */
const redisUp = await hasRedis('a cluster node reads the version of the Redis it reaches');
const asSix = (chunk: Buffer) => Buffer.from(chunk.toString('latin1').replace(/redis_version:\d\./, 'redis_version:6.'), 'latin1');

describe.runIf(redisUp)('a cluster node reads the version of the Redis it reaches, at each connect', () => {
  let proxy: HoleProxy;
  let redis: Redis;
  let readies = 0;
  /** Drops the connection and waits until it is ready again (counted: a status can go and come back between two looks). */
  const reconnect = async () => {
    const before = readies;
    proxy.cut();
    proxy.open();
    await expect.poll(() => readies, { timeout: 5000 }).toBeGreaterThan(before);
  };
  beforeAll(async () => {
    const url = new URL(REDIS_URL);
    proxy = await HoleProxy.start(Number(url.port || 6379), url.hostname);
    // Not up yet: the node starts before Redis answers.
    proxy.cut();
    redis = new Redis({ host: '127.0.0.1', port: proxy.port, db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    redis.on('error', () => {});
    redis.on('ready', () => readies++);
  });
  afterAll(async () => {
    redis?.disconnect();
    await proxy?.close();
  });

  it('says a Redis too old for the cluster roles is, once, and that it is not once one new enough is reached', async () => {
    const logs: string[] = [];
    const watch = new RedisWatch(redis, (l, m) => logs.push(`${l} ${m}`), undefined, 7);
    try {
      proxy.replies = asSix;
      proxy.open();
      await watch.ready();
      await expect.poll(() => watch.versionProblem).toMatch(/^redis at 127\.0\.0\.1:\d+\/\d+ is Redis 6\.\d+\.\d+; the cluster roles need Redis 7\.0 or newer \(their scripts use Redis 7's flags\): upgrade it$/);
      expect(logs.filter((l) => l.includes('is Redis 6.'))).toHaveLength(1);
      // The same Redis again (a reconnect): said no more.
      await reconnect();
      await redis.info('server');
      expect(logs.filter((l) => l.includes('is Redis 6.'))).toHaveLength(1);
      expect(watch.versionProblem).toMatch(/is Redis 6\./);
      // A Redis 7 in its place.
      proxy.replies = undefined;
      await reconnect();
      await expect.poll(() => watch.versionProblem, { timeout: 5000 }).toBeUndefined();
      expect(logs.at(-1)).toMatch(/^warn redis at .* is Redis 7 or newer again$/);
    } finally {
      watch.stop();
    }
  });

  it('reads nothing of the kind for ROLE=all (no floor given): its store works with an older Redis', async () => {
    const logs: string[] = [];
    proxy.replies = asSix;
    const watch = new RedisWatch(redis, (l, m) => logs.push(`${l} ${m}`));
    try {
      await reconnect();
      await redis.info('server');
      expect(watch.versionProblem).toBeUndefined();
      expect(logs.filter((l) => l.includes('Redis 6'))).toEqual([]);
    } finally {
      watch.stop();
      proxy.replies = undefined;
    }
  });
});
