import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { readRecording } from '../../../engine/src/record/read-recording.ts';
import { REPLAY_SLOTS, replaySlotKey } from '../../../engine/src/record/replay-key-prefix.ts';
import { decodeBar, encodeBar } from '../../../engine/src/store/bar-member.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { writeKlineRecording } from '../../helpers/kline-recording.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { replaySettled } from '../../helpers/replay-settled.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-redis-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** This suite's namespace in the test database: the live run's keys are `${P}candles:…`. */
const P = `spec-replay-redis-${process.pid}:`;
const BTC = seriesId('BTCUSDT', '1m');
const bar = (openTime: number, close: number): Bar => ({ openTime, open: close, high: close, low: close, close, volume: 1, closed: true });

describe.runIf(await hasRedis('a replay keeps Redis keys of its own'))('a replay with REDIS_URL', () => {
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    await deletePrefix(redis, P);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  const keys = async () => {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${P}*`, 'COUNT', 500);
      cursor = next;
      out.push(...found);
    } while (cursor !== '0');
    return out.sort();
  };
  const members = (key: string) => redis.zrange(key, 0, -1, 'WITHSCORES');

  it("keeps its series under replay:<recording start>:<slot>: and never touches the live run's keys; a second replay starts from the recording alone (reproduced: it wrote into the live series)", async () => {
    const file = join(dir, 'run.jsonl.gz');
    const live = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, redisUrl: REDIS_URL, redisKeyPrefix: P, recordFile: file, simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 50, clockSpeed: 120 } });
    let recorded: Bar[];
    try {
      await live.ready;
      await sleep(2000);
      live.sim!.faults.pauseStream();
      await replaySettled(live, () => live.sim!.stats.framesSent);
      recorded = live.store.window(BTC).last(10_000);
    } finally {
      await live.stop();
    }
    expect(recorded.length).toBeGreaterThan(50);
    // The live series goes on after the recording (a bar the replay does not have), as a live engine's would.
    const liveKey = `${P}candles:BTCUSDT:1m`;
    await redis.zadd(liveKey, 4e12, encodeBar(bar(4e12, 1)));
    const liveBefore = await members(liveKey);
    const outsideBefore = await keys();

    const t = (await readRecording(file)).lines[0]!.t;
    const ns = `${P}replay:${t}:0:`;
    // What an earlier replay of this recording left, newer than its frames: deleted at the start.
    await redis.zadd(`${ns}candles:BTCUSDT:1m`, 4e12, encodeBar(bar(4e12, 2)));

    for (let run = 0; run < 2; run++) {
      const lines: string[] = [];
      const replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', bufferSize: 200, redisUrl: REDIS_URL, redisKeyPrefix: P, log: createLogger('info', 'replay', (l) => void lines.push(l)) });
      try {
        await replay.ready;
        await replay.replay!.done;
        // Every frame sent, not yet every one taken in and its gaps filled.
        await replaySettled(replay, () => replay.replay!.stats.framesSent);
        // Served from the recording alone: no bar of the live key's, none of the earlier replay's.
        expect(replay.store.window(BTC).last(10_000), `run ${run}`).toEqual(recorded);
        // Written under its own namespace, and only there.
        const stored = async () => (await redis.zrange(`${ns}candles:BTCUSDT:1m`, 0, -1)).map((m) => decodeBar(m)!.openTime);
        await until(async () => (await stored()).length === recorded.length, 10_000, "the replay's bars in Redis");
        expect(await stored(), `run ${run}`).toEqual(recorded.map((b) => b.openTime));
      } finally {
        await replay.stop();
      }
      // A graceful stop deletes the namespace, once the store has flushed, and says how many keys went.
      expect((await keys()).filter((k) => k.startsWith(ns)), `run ${run}`).toEqual([]);
      const said = lines.filter((l) => l.includes('replay: deleted its'));
      expect(said, `run ${run}`).toHaveLength(1);
      expect(said[0], `run ${run}`).toMatch(/replay: deleted its [1-9]\d* Redis keys under /);
      expect(said[0], `run ${run}`).toContain(`under ${ns}*`);
      expect(await members(liveKey), `run ${run}`).toEqual(liveBefore);
      expect((await keys()).filter((k) => !k.startsWith(ns)), `run ${run}`).toEqual(outsideBefore);
    }
  }, 60_000);

  it("gives replays of one recording at once a slot each: neither empties nor deletes the other's series (reproduced: the second's start emptied the first's)", async () => {
    const file = join(dir, 'slots.jsonl.gz');
    writeKlineRecording(file, { bars: 30, stepMs: 10 });
    const t = (await readRecording(file)).lines[0]!.t;
    const stored = async (slot: number) => (await redis.zrange(`${P}replay:${t}:${slot}:candles:BTCUSDT:1m`, 0, -1)).length;
    // Slot 0 is held by a replay that was killed a moment ago (its hold not yet expired), with what it left.
    await redis.set(replaySlotKey(t, P, 0), 'killed', 'PX', 60_000);
    await redis.zadd(`${P}replay:${t}:0:candles:BTCUSDT:1m`, 4e12, encodeBar(bar(4e12, 2)));
    const start = () => startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', bufferSize: 200, redisUrl: REDIS_URL, redisKeyPrefix: P });
    const a = await start();
    const b = await start();
    try {
      await Promise.all([a.ready, b.ready]);
      await Promise.all([a.replay!.done, b.replay!.done]);
      expect(a.store.window(BTC).last(100)).toHaveLength(30);
      expect(b.store.window(BTC).last(100)).toEqual(a.store.window(BTC).last(100));
      await until(async () => (await stored(1)) === 30 && (await stored(2)) === 30, 10_000, 'both replays in Redis, in slots 1 and 2');
      // The killed replay's slot is left alone while its hold lasts.
      expect(await stored(0)).toBe(1);
      await a.stop();
      // a's slot deleted and freed; b's series untouched.
      expect(await stored(1)).toBe(0);
      expect(await redis.exists(replaySlotKey(t, P, 1))).toBe(0);
      expect(await stored(2)).toBe(30);
      expect(b.store.window(BTC).last(100)).toHaveLength(30);
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(await stored(2)).toBe(0);
    // Once the killed replay's hold is gone, the next replay takes slot 0 and empties what it left.
    await redis.del(replaySlotKey(t, P, 0));
    const c = await start();
    try {
      await c.ready;
      await c.replay!.done;
      await until(async () => (await stored(0)) === 30, 10_000, "the next replay's bars in slot 0");
      expect((await redis.zrange(`${P}replay:${t}:0:candles:BTCUSDT:1m`, 0, -1, 'WITHSCORES')).includes('4000000000000')).toBe(false);
    } finally {
      await c.stop();
    }
  }, 60_000);

  it(`refuses a replay when ${REPLAY_SLOTS} of its recording already run on the database, naming REDIS_URL`, async () => {
    const file = join(dir, 'full.jsonl.gz');
    writeKlineRecording(file, { bars: 5, stepMs: 10 });
    const t = (await readRecording(file)).lines[0]!.t;
    for (let s = 0; s < REPLAY_SLOTS; s++) await redis.set(replaySlotKey(t, P, s), `other-${s}`, 'PX', 60_000);
    const err = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', redisUrl: REDIS_URL, redisKeyPrefix: P }).then(
      async (app) => (await app.stop(), undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`REDIS_URL: ${REPLAY_SLOTS} replays of this recording already run on this database, each in a namespace of its own; stop one, or give this one another database (REDIS_URL's /db)`);
    // Nobody's hold was touched.
    for (let s = 0; s < REPLAY_SLOTS; s++) expect(await redis.get(replaySlotKey(t, P, s))).toBe(`other-${s}`);
  });
});

describe('a replay whose REDIS_URL cannot be emptied', () => {
  const dir2 = mkdtempSync(join(tmpdir(), 'replay-redis-down-'));
  const file = join(dir2, 'run.jsonl.gz');
  writeKlineRecording(file, { bars: 5, stepMs: 10 });
  /** Nothing listens on port 9 (discard) on loopback: Redis does not answer. */
  const DOWN = 'redis://127.0.0.1:9/15';
  afterAll(() => rmSync(dir2, { recursive: true, force: true }));

  it('fails the start with a ConfigError naming REDIS_URL (reproduced: it warned and played on, with what an earlier replay left)', async () => {
    const err = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', redisUrl: DOWN }).then(
      async (app) => (await app.stop(), undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).info.variable).toBe('REDIS_URL');
    expect((err as ConfigError).message).toMatch(/^REDIS_URL: a replay empties its Redis namespace \(replay:\d+:<slot>:\*\) before it starts, and it could not/);
  });

  it('npm start exits 2 with one configuration-error line', { timeout: 30_000 }, async () => {
    const r = await new Promise<{ status: number | null; stderr: string[] }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], { env: childEnv({ PORT: '0', CLIENT_DIR: '', LOG_LEVEL: 'warn', SOURCE: 'replay', REPLAY_FILE: file, REDIS_URL: DOWN }) });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stderr: stderr.split('\n').filter(Boolean) });
      });
    });
    expect(r.status).toBe(2);
    expect(r.stderr.filter((l) => !/ WARN /.test(l))).toEqual([expect.stringMatching(/^configuration error: REDIS_URL: a replay empties its Redis namespace/)]);
  });
});
