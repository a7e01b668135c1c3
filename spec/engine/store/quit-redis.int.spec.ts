import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { quitRedis } from '../../../engine/src/store/quit-redis.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { until } from '../../helpers/until.ts';
import { hasRedisServer } from '../../helpers/services.ts';

describe.runIf(await hasRedisServer('quitRedis against a hung Redis'))('quitRedis against a hung Redis', () => {
  let server: RedisProcess | undefined;
  afterAll(async () => {
    if (server?.pid) process.kill(server.pid, 'SIGCONT');
    await server?.stop();
  });

  it('cuts the connection when QUIT is not answered within its time (reproduced: a stopping node waited its 15 s limit, then exited 1)', async () => {
    server = await RedisProcess.start();
    const redis = new Redis({ port: server.port, lazyConnect: true, maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    await redis.connect();
    await redis.ping();
    process.kill(server.pid!, 'SIGSTOP');
    const t0 = Date.now();
    await quitRedis(redis, 300);
    const ms = Date.now() - t0;
    // Not a timing assertion of speed: it ends at all, near its limit rather than never.
    expect(ms).toBeLessThan(5000);
    await until(() => redis.status === 'end', 5000, 'the connection ended');
    process.kill(server.pid!, 'SIGCONT');
  });

  it('quits politely when Redis answers', async () => {
    const other = await RedisProcess.start();
    try {
      const redis = new Redis({ port: other.port });
      await redis.ping();
      await quitRedis(redis);
      await until(() => redis.status === 'end', 5000, 'the connection ended');
      // With no listener of its own left, a late write's EPIPE was ioredis's "Unhandled error event"
      // and a stack in a stopping node's log (a chaos soak): it is expected now.
      expect(() => redis.emit('error', new Error('write EPIPE'))).not.toThrow();
    } finally {
      await other.stop();
    }
  });
});
