import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { replayKeyPrefix, replaySlotKey } from '../../../engine/src/record/replay-key-prefix.ts';
import { openReplayNamespace } from '../../../engine/src/record/replay-namespace.ts';
import { SLOT_LEASE_MS } from '../../../engine/src/record/replay-slot.ts';
import { readRecording } from '../../../engine/src/record/read-recording.ts';
import { writeKlineRecording } from '../../helpers/kline-recording.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedis, hasRedisServer, REDIS_URL } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const P = `spec-replay-ns-${process.pid}:`;
const T = 1_700_000_000_000;

describe.runIf(await hasRedis("a replay's namespace among its recording's replays"))("a replay's Redis namespace", () => {
  const redis = new Redis(REDIS_URL);
  const dir = mkdtempSync(join(tmpdir(), 'replay-ns-'));
  afterAll(async () => {
    await deletePrefix(redis, P);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  const logged = () => {
    const lines: string[] = [];
    return { lines, log: createLogger('info', 'replay', (l) => void lines.push(l)) };
  };
  const open = (recordedAt: number, log = logged().log) => openReplayNamespace({ url: REDIS_URL, reachable: true, recordedAt, base: P, log });

  it("leaves the namespace in place at its stop once another replay took its slot (reproduced: it deleted the new holder's series)", async () => {
    const a = logged();
    const first = await open(T, a.log);
    expect(first.prefix).toBe(replayKeyPrefix(T, P, 0));
    // Redis lost the hold (a restart without its data) and another replay took slot 0 before a renewal.
    await redis.del(replaySlotKey(T, P, 0));
    const second = await open(T);
    expect(second.prefix).toBe(first.prefix);
    await redis.set(`${second.prefix}candles:BTCUSDT:1m`, 'the second replay');
    await first.drop();
    expect(await redis.get(`${second.prefix}candles:BTCUSDT:1m`)).toBe('the second replay');
    expect(a.lines.some((l) => l.includes('are left in place: another replay holds slot 0 now'))).toBe(true);
    // The slot stays the second's.
    expect(await redis.exists(replaySlotKey(T, P, 0))).toBe(1);
    await second.drop();
    expect(await redis.exists(`${second.prefix}candles:BTCUSDT:1m`, replaySlotKey(T, P, 0))).toBe(0);
  });

  it('empties the free slots killed replays left keys in, and leaves held ones alone and what the version before slots left (reproduced: a killed replay of slot 3 kept its keys for good)', async () => {
    const t = T + 1;
    await redis.set(`${replayKeyPrefix(t, P, 3)}candles:BTCUSDT:1m`, 'killed in slot 3');
    await redis.set(`${replayKeyPrefix(t, P, 5)}candles:BTCUSDT:1m`, 'running in slot 5');
    await redis.set(replaySlotKey(t, P, 5), 'another replay', 'PX', 60_000);
    // Left by a killed replay of the version before slots.
    await redis.set(`${P}replay:${t}:candles:BTCUSDT:1m`, 'killed before slots');
    await redis.zadd(`${P}replay:${t}:store:freed`, 1, 'BTCUSDT:1m');
    const x = logged();
    const ns = await open(t, x.log);
    try {
      expect(ns.prefix).toBe(replayKeyPrefix(t, P, 0));
      expect(await redis.exists(`${replayKeyPrefix(t, P, 3)}candles:BTCUSDT:1m`)).toBe(0);
      expect(await redis.get(`${replayKeyPrefix(t, P, 5)}candles:BTCUSDT:1m`)).toBe('running in slot 5');
      // Slot 3 was held only while it was emptied.
      expect(await redis.exists(replaySlotKey(t, P, 3))).toBe(0);
      expect(await redis.exists(`${P}replay:${t}:candles:BTCUSDT:1m`, `${P}replay:${t}:store:freed`)).toBe(0);
      expect(x.lines.some((l) => l.includes('replay: deleted 3 Redis keys killed replays of this recording left in free slots'))).toBe(true);
    } finally {
      await ns.drop();
    }
  });

  it('frees its slot when the start fails after taking it (reproduced: the port taken, the slot renewed for good)', async () => {
    const file = join(dir, 'run.jsonl.gz');
    writeKlineRecording(file, { bars: 5, stepMs: 10 });
    const t = (await readRecording(file)).lines[0]!.t;
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const err = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', redisUrl: REDIS_URL, redisKeyPrefix: P, port }).then(
        async (app) => (await app.stop(), undefined),
        (e: unknown) => e,
      );
      // uWS says it with a string.
      expect(String(err)).toMatch(/listen/);
      expect(await redis.exists(replaySlotKey(t, P, 0))).toBe(0);
    } finally {
      taken.close();
    }
  });

  it("writes nothing more once another replay took its slot, and serves on from memory (reproduced: it wrote on into the new holder's series)", async () => {
    const file = join(dir, 'slow.jsonl.gz');
    // 60 bars over 6 s of the recording's clock, played at its pace.
    writeKlineRecording(file, { bars: 60, stepMs: 100 });
    const t = (await readRecording(file)).lines[0]!.t;
    const candles = `${replayKeyPrefix(t, P, 0)}candles:BTCUSDT:1m`;
    const app = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 1, bufferSize: 200, redisUrl: REDIS_URL, redisKeyPrefix: P });
    try {
      await until(async () => (await redis.zcard(candles)) >= 5, 10_000, 'bars written under slot 0');
      // Another replay took slot 0 (this one could not renew it) and wrote its own series there.
      await redis.set(replaySlotKey(t, P, 0), 'another replay', 'PX', 60_000);
      await redis.del(candles);
      await redis.zadd(candles, 1, 'the other replay');
      await until(() => /another holder/.test(app.store.health().lastError ?? ''), 5000, 'its store fenced');
      await app.replay!.done;
      await app.store.flush();
      expect(await redis.zrange(candles, 0, -1)).toEqual(['the other replay']);
      // Its own clients lose nothing: every recorded bar is in memory.
      expect(app.store.window(seriesId('BTCUSDT', '1m')).size).toBe(60);
    } finally {
      await app.stop();
    }
    // Left in place at its stop: the namespace is the other replay's.
    expect(await redis.zrange(candles, 0, -1)).toEqual(['the other replay']);
  });
});

describe.runIf(await hasRedisServer("a replay's namespace when Redis is gone at its stop"))("a replay's namespace when Redis is gone at its stop", () => {
  let server: RedisProcess | undefined;
  afterAll(async () => server?.stop());

  it('says its keys were not deleted and lets go of its slot without waiting on Redis (its renewals stopped)', { timeout: 20_000 }, async () => {
    server = await RedisProcess.start();
    const lines: string[] = [];
    const ns = await openReplayNamespace({ url: server.url, reachable: true, recordedAt: T, log: createLogger('info', 'replay', (l) => void lines.push(l)) });
    await server.kill();
    await ns.drop();
    expect(lines.filter((l) => l.includes('were not deleted (Redis does not answer); the next replay of this recording deletes them once slot 0 is free'))).toHaveLength(1);
    // Started again empty (no AOF): past a renewal's period (SLOT_LEASE_MS / 3), nothing took the slot again.
    await server.restart();
    const redis = new Redis(server.url);
    try {
      await new Promise((r) => setTimeout(r, SLOT_LEASE_MS / 3 + 500));
      expect(await redis.exists(replaySlotKey(T, '', 0))).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe.runIf(await hasRedisServer('a replay on a Redis that refuses it the deletion'))('a replay on a Redis that refuses it the deletion (an ACL)', () => {
  let server: RedisProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'replay-ns-acl-'));
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails the start with a ConfigError naming REDIS_URL, the refusal in it, and frees its slot (reproduced: released with DEL, refused too, it stayed held 15 s)', async () => {
    server = await RedisProcess.start();
    const admin = new Redis(server.url);
    try {
      // A user that may do anything but delete keys.
      await admin.call('ACL', 'SETUSER', 'replayer', 'on', '>secret', '~*', '&*', '+@all', '-unlink', '-del');
      const file = join(dir, 'run.jsonl.gz');
      writeKlineRecording(file, { bars: 5, stepMs: 10 });
      const t = (await readRecording(file)).lines[0]!.t;
      await admin.set(`${replayKeyPrefix(t, '', 0)}candles:BTCUSDT:1m`, 'left by an earlier replay');
      const err = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', redisUrl: `redis://replayer:secret@127.0.0.1:${server.port}/0` }).then(
        async (app) => (await app.stop(), undefined),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).info.variable).toBe('REDIS_URL');
      expect((err as ConfigError).message).toMatch(/^REDIS_URL: a replay empties its Redis namespace \(replay:\d+:<slot>:\*\) before it starts, and it could not \(.*NOPERM/);
      // Nothing served from the leftovers, nothing held.
      expect(await admin.exists(replaySlotKey(t, '', 0))).toBe(0);
    } finally {
      admin.disconnect();
    }
  });
});
