import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { checkRedisDatabase } from '../../../engine/src/store/check-redis-database.ts';
import { createRedisBarStore } from '../../../engine/src/store/redis-bar-store.ts';
import { redisErrorText } from '../../../engine/src/store/redis-error-text.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

const M = 60_000;
const bar = (i: number, close = 100 + i): Bar => ({ openTime: i * M, open: 100, high: 200, low: 50, close, volume: i, closed: true });
const id = seriesId('BTCUSDT', '1m');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, pred: () => boolean | Promise<boolean>, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await sleep(50);
  }
};

describe('redisErrorText', () => {
  it('keeps the kind of failure and drops addresses, host names and URLs', () => {
    expect(redisErrorText(Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:6380'), { code: 'ECONNREFUSED' }))).toBe('connection failed (ECONNREFUSED)');
    expect(redisErrorText(new Error('Command timed out'))).toBe('Command timed out');
    for (const msg of ['getaddrinfo ENOTFOUND redis.internal.example', 'cannot reach redis://:hunter2@cache.example:6390/3', 'Socket closed at 192.168.0.7:6379', 'failed at [::1]:6379', 'failed at cache-1.internal:6390']) {
      const text = redisErrorText(new Error(msg));
      for (const secret of ['hunter2', 'redis.internal.example', 'cache.example', '6390', '192.168.0.7', '::1', 'cache-1.internal']) expect(text).not.toContain(secret);
    }
  });
});

describe.runIf(await hasRedisServer('an honest Redis store'))('an honest Redis store (own redis-server on a free port)', () => {
  let server: RedisProcess;
  beforeAll(async () => {
    server = await RedisProcess.start();
  });
  afterAll(async () => {
    if (server?.pid) process.kill(server.pid, 'SIGCONT');
    await server?.stop();
  });
  const keysInDb0 = async (prefix: string) => {
    const c = new Redis(`${server.url}/0`);
    try {
      return await c.keys(`${prefix}*`);
    } finally {
      c.disconnect();
    }
  };

  it('refuses REDIS_URL=…/99 at start naming the variable and the database, never the password (was: silent, writes in database 0)', async () => {
    const url = `redis://:s3cret-pw@127.0.0.1:${server.port}/99`;
    const err = await checkRedisDatabase(url, 3000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/REDIS_URL names database 99, which Redis refuses to select/);
    expect((err as Error).message).not.toContain('s3cret-pw');
    expect(await checkRedisDatabase(`${server.url}/3`, 3000)).toBe(true);
    // The cluster roles' floor (Redis 7): this server passes it.
    expect(await checkRedisDatabase(`${server.url}/3`, 3000, 7)).toBe(true);
    // startApp refuses before the exchange or the store is started.
    await expect(startApp({ source: 'sim', port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m'], clientDir: '', log: silentLogger, redisUrl: url, redisKeyPrefix: 'honest99:' })).rejects.toThrow(ConfigError);
    expect(await keysInDb0('honest99:')).toEqual([]);
  });

  it('makes the process exit 2 with a plain message for a database Redis refuses', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
      env: childEnv({ SOURCE: 'sim', PORT: '0', HOST: '127.0.0.1', SYMBOLS: 'BTCUSDT', INTERVALS: '1m', REDIS_URL: `redis://:s3cret-pw@127.0.0.1:${server.port}/99`, CLIENT_DIR: '' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/configuration error: REDIS_URL names database 99/);
    expect(r.stderr + r.stdout).not.toContain('s3cret-pw');
  });

  it.each(['all', 'edge'])('makes ROLE=%s exit 2 naming REDIS_URL when Redis refuses its credentials, never printing them (was: ran on for good, the cause in no log line)', async (role) => {
    const locked = await RedisProcess.start({ args: ['--requirepass', 'right-pw'] });
    try {
      for (const url of [`redis://:wr0ng-pw@127.0.0.1:${locked.port}/15`, `redis://127.0.0.1:${locked.port}/15`]) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
          env: childEnv({ ROLE: role, SOURCE: 'sim', PORT: '0', HOST: '127.0.0.1', SYMBOLS: 'BTCUSDT', INTERVALS: '1m', REDIS_URL: url, CLIENT_DIR: '' }),
          encoding: 'utf8',
          timeout: 30_000,
        });
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/configuration error: REDIS_URL's credentials are refused by Redis \((WRONGPASS|NOAUTH)/);
        expect(r.stderr + r.stdout).not.toContain('wr0ng-pw');
      }
    } finally {
      await locked.stop();
    }
  });

  it('a store on a database Redis refuses writes nothing anywhere and says so', async () => {
    const logs: string[] = [];
    const store = createRedisBarStore({ url: `${server.url}/99`, bufferSize: 100, keyPrefix: 'honest-store99:', log: (_l, m) => logs.push(m) });
    store.upsert(id, [bar(1), bar(2)]);
    await until('the refusal is seen', () => /database 99 cannot be selected/.test(store.health().lastError ?? ''));
    await store.flush();
    await sleep(300);
    expect(await keysInDb0('honest-store99:')).toEqual([]);
    expect(store.health()).toMatchObject({ reachable: false });
    expect(logs.some((l) => /database 99 cannot be selected/.test(l))).toBe(true);
    await store.close();
  });

  it('when Redis hangs (SIGSTOP): reads come from memory at once, health says hung, writes catch up after SIGCONT', async () => {
    const logs: string[] = [];
    const prefix = 'honest-hang:';
    const store = createRedisBarStore({ url: `${server.url}/2`, bufferSize: 30, keyPrefix: prefix, commandTimeoutMs: 300, log: (_l, m) => logs.push(m) });
    await store.restore(id);
    for (let i = 1; i <= 60; i++) store.upsert(id, [bar(i)]);
    await store.flush();
    process.kill(server.pid!, 'SIGSTOP');
    try {
      for (let i = 61; i <= 70; i++) store.upsert(id, [bar(i)]);
      await until('the hang is seen', () => store.health().hung === true);
      expect(store.health()).toMatchObject({ kind: 'redis', reachable: false, hung: true, lastError: 'Command timed out' });
      // Older than memory holds: answered from memory (shorter), while Redis is still stopped.
      const older = await store.range(id, 45 * M, 10);
      expect(older.map((b) => b.openTime / M)).toEqual([41, 42, 43, 44, 45]);
      expect(JSON.stringify(store.health())).not.toContain(String(server.port));
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
    await until('Redis answers again and the writes are caught up', () => store.health().reachable && store.health().pendingWrites === 0);
    await store.flush();
    const c = new Redis(`${server.url}/2`);
    const members = (await c.zrange(`${prefix}candles:BTCUSDT:1m`, 0, -1)).map((m) => (JSON.parse(m) as number[])[0]! / M);
    c.disconnect();
    expect(members).toEqual(Array.from({ length: 30 }, (_, k) => k + 41));
    expect(logs.some((l) => /not answering/.test(l))).toBe(true);
    expect(logs.some((l) => /answering again/.test(l))).toBe(true);
    await store.close();
  });

  describe('the engine on a Redis that hangs', () => {
    let app: App;
    beforeAll(async () => {
      app = await startTestApp({
        source: 'sim',
        symbols: ['BTCUSDT'],
        intervals: ['1m'],
        bufferSize: 100,
        historyOnConnect: 50,
        redisUrl: `redis://:s3cret-pw@127.0.0.1:${server.port}/4`,
        redisKeyPrefix: 'honest-app:',
        redisCommandTimeoutMs: 300,
        simOptions: { pushIntervalMs: 50, clockSpeed: 60 },
      });
      await app.ready;
    });
    afterAll(async () => {
      if (server?.pid) process.kill(server.pid, 'SIGCONT');
      await app?.stop();
    });
    const health = async () => {
      const res = await request(`${app.url}/health`);
      return { status: res.statusCode, text: await res.body.text() };
    };

    it('turns /health degraded (was 200 ok), serves /candles below the store without waiting for Redis, and recovers', async () => {
      await until('ready', async () => (await health()).status === 200);
      process.kill(server.pid!, 'SIGSTOP');
      let stoppedAnswer: number | undefined;
      try {
        await until('degraded', async () => (await health()).status === 503);
        const h = await health();
        expect(JSON.parse(h.text)).toMatchObject({ status: 'degraded', notReady: ['store unreachable'], store: { kind: 'redis', reachable: false, hung: true } });
        // Neither the host, the port nor the password shows.
        for (const secret of [String(server.port), '127.0.0.1', 's3cret-pw', 'redis://']) expect(h.text).not.toContain(secret);
        const oldest = app.store.window(id).oldest()!.openTime;
        // Answered while Redis is still stopped (a wait for Redis would only end after SIGCONT below).
        const res = await request(`${app.url}/candles/BTCUSDT/1m?endTime=${oldest + 5 * M}&limit=20`);
        stoppedAnswer = res.statusCode;
        const body = (await res.body.json()) as { candles: Array<{ time: number }> };
        expect(body.candles).toHaveLength(20);
        expect(body.candles[body.candles.length - 1]!.time).toBe(oldest + 5 * M);
      } finally {
        process.kill(server.pid!, 'SIGCONT');
      }
      expect(stoppedAnswer).toBe(200);
      await until('ready again', async () => (await health()).status === 200);
    });
  });
});
