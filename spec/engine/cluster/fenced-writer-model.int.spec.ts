import { fc } from '@fast-check/vitest';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBar } from '../../../engine/src/cluster/bar-codec.ts';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { type BarWriteResult, FencedWriter, type WindowResult } from '../../../engine/src/cluster/fenced-writer.ts';
import { SeriesReader } from '../../../engine/src/cluster/series-reader.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

const CAP = 5;
const KEEP = 7;
const ids = [seriesId('BTCUSDT', '1m'), seriesId('ETHUSDT', '1m')];
const lease = leaseKeys('m:');

/** The model of one series' log: its bars by time (capped), its offset, its history (capped). */
interface ModelLog {
  bars: Map<number, Bar>;
  offset: number;
  history: string[];
  /** The offset a window seeded the log at (its history starts after it), else 0. */
  seededAt: number;
  /** What the log published since the test last looked: `offset member`, in order. */
  published: string[];
}

/** Whether `b` replaces `stored` (the version check: closed beats forming, then more volume; the same again is a duplicate). */
function replaces(stored: Bar, b: Bar): boolean {
  if (encodeBar(stored) === encodeBar(b)) return false;
  if (stored.closed && !b.closed) return false;
  return !(stored.closed === b.closed && b.volume < stored.volume);
}

/** Applies one update to the model; the kind of result the writer must give. */
function apply(log: ModelLog, b: Bar): 'written' | 'dropped' {
  const stored = log.bars.get(b.openTime);
  if (stored && !replaces(stored, b)) return 'dropped';
  log.bars.set(b.openTime, b);
  if (!stored && log.bars.size > CAP) log.bars.delete(Math.min(...log.bars.keys()));
  log.offset++;
  log.history.push(`${log.offset} ${encodeBar(b)}`);
  log.published.push(`${log.offset} ${encodeBar(b)}`);
  if (log.history.length > KEEP) log.history.shift();
  return 'written';
}

/**
 * Writes a whole window into the model: a log never written (offset 0) gets it in one step, the log
 * starting at offset 1 (its history after it); a log that exists gets its bars as updates.
 */
function applyWindow(log: ModelLog, window: Bar[]): WindowResult {
  if (log.offset > 0) {
    const kinds = window.map((b) => apply(log, b));
    const written = kinds.filter((k) => k === 'written').length;
    return { kind: 'updates', written, dropped: kinds.length - written };
  }
  for (const b of window.slice(-CAP)) log.bars.set(b.openTime, b);
  log.offset = 1;
  log.seededAt = 1;
  log.published.push(`1 ${encodeBar(window.at(-1)!)}`);
  log.history = [];
  return { kind: 'seeded', epoch: 'any' };
}

/** Whether a window reaches the log's write script: it seeds the log, or some bar of it is not the stored one. */
function reaches(log: ModelLog, window: Bar[]): boolean {
  return log.offset === 0 || window.some((b) => {
    const stored = log.bars.get(b.openTime);
    return !stored || encodeBar(stored) !== encodeBar(b);
  });
}

/** Which series, from which bar, with what volume, closed or not: what an update and a window both have. */
const where = {
  series: fc.integer({ min: 0, max: ids.length - 1 }),
  minute: fc.integer({ min: 0, max: 12 }),
  volume: fc.integer({ min: 1, max: 4 }),
  closed: fc.boolean(),
};

/** A window: `count` bars from `minute` on, all closed but the last (unless `closed`). */
const arbWindow = fc.record({ ...where, count: fc.integer({ min: 1, max: 8 }) });

const arbUpdate = fc.record({ ...where, close: fc.integer({ min: 1, max: 2 }) });

const redisUp = await hasRedisServer('fenced writer against a model (own redis-server, property)');

describe.runIf(redisUp)('fenced writer against a model (own redis-server, property)', () => {
  let server: RedisProcess;
  let redis: Redis;
  let w: FencedWriter;
  let reader: SeriesReader;
  let sub: Redis;
  /** What each series' channel carried (epoch left out), by channel. */
  const heard = new Map<string, string[]>();
  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    reader = new SeriesReader(redis, 'm:');
    sub = new Redis(server.url, { maxRetriesPerRequest: 1 });
    await sub.subscribe(...ids.map((id) => seriesKeys(id, 'm:').channel));
    sub.on('message', (ch: string, msg: string) => heard.get(ch)?.push(msg.slice(msg.indexOf(' ') + 1)) ?? heard.set(ch, [msg.slice(msg.indexOf(' ') + 1)]));
    w = new FencedWriter({ redis, keyPrefix: 'm:', leaseKey: lease.lease, bufferSize: CAP, historyUpdates: KEEP });
  });
  afterAll(async () => {
    redis?.disconnect();
    sub?.disconnect();
    await server?.stop();
  });

  /** What Redis holds of a series: bars, offset, history (times left out), the newest bar pos keeps. */
  async function stored(id: SeriesId) {
    const k = seriesKeys(id, 'm:');
    const [bars, pos, snap] = await Promise.all([redis.zrange(k.candles, 0, -1), redis.hmget(k.pos, 'offset', 'nt', 'nm'), reader.snapshot(id, 1)]);
    return { bars, offset: Number(pos[0] ?? 0), newest: pos[2] === null ? null : [Number(pos[1]), pos[2]], history: snap.history.map((u) => `${u.offset} ${encodeBar(u.bar)}`) };
  }

  it('random turns of updates (new, newest, older, duplicates, corrections, past the cap) and whole windows leave Redis as the model; offsets advance once per written update, or start at 1 with a window seeding a new log', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.oneof({ arbitrary: arbUpdate, weight: 5 }, { arbitrary: arbWindow, weight: 1 }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 14 }),
        fc.boolean(),
        async (turns, forget) => {
          await redis.flushall();
          await redis.set(lease.lease, 'tok');
          const model: ModelLog[] = ids.map(() => ({ bars: new Map(), offset: 0, history: [], seededAt: 0, published: [] }));
          await sub.ping();
          heard.clear();
          /** Series whose pos lost its newest bar and that no update reached since. */
          const forgotten = new Set<number>();
          for (const [n, turn] of turns.entries()) {
            // A log written before pos kept its newest bar (or one whose cache went): read from the set again.
            if (forget && n % 3 === 2) {
              for (const id of ids) await redis.hdel(seriesKeys(id, 'm:').pos, 'nt', 'nm');
              ids.forEach((_, s) => forgotten.add(s));
            }
            // Every bar update runs the write script, which reads the newest bar from the set again.
            for (const u of turn) if (!('count' in u)) forgotten.delete(u.series);
            // Updates and windows of one turn, in order: a window's call holds back what follows it.
            const writes = turn.map((u) => {
              const id = ids[u.series]!;
              if (!('count' in u)) {
                const bar: Bar = { openTime: u.minute * 60_000, open: 1, high: 2, low: 0.5, close: u.close, volume: u.volume, closed: u.closed };
                return { s: u.series, bar, done: w.write('tok', id, bar) };
              }
              const window = Array.from({ length: u.count }, (_, k): Bar => ({ openTime: (u.minute + k) * 60_000, open: 1, high: 2, low: 0.5, close: 1, volume: u.volume, closed: k < u.count - 1 || u.closed }));
              return { s: u.series, window, done: w.writeWindow('tok', id, window) };
            });
            const results: Array<BarWriteResult | WindowResult> = await Promise.all(writes.map((x) => x.done));
            const expected = writes.map((x) => {
              if (!x.window) return apply(model[x.s]!, x.bar!);
              // A window runs the write script only when it seeds the log or some bar differs from the stored one.
              if (reaches(model[x.s]!, x.window)) forgotten.delete(x.s);
              return applyWindow(model[x.s]!, x.window);
            });
            expect(results.map((r) => (r.kind === 'seeded' ? 'seeded' : 'written' in r ? r : r.kind))).toEqual(expected.map((r) => (typeof r === 'string' ? r : r.kind === 'seeded' ? 'seeded' : r)));
            for (const [s, id] of ids.entries()) {
              const m = model[s]!;
              const sorted = [...m.bars.values()].sort((a, b) => a.openTime - b.openTime);
              const top = sorted.at(-1);
              expect(await stored(id)).toEqual({
                bars: sorted.map(encodeBar),
                offset: m.offset,
                newest: top && !forgotten.has(s) ? [top.openTime, encodeBar(top)] : null,
                history: m.history,
              });
              // Every written update published once on its series' channel, in order (a seed: its newest bar at offset 1).
              await sub.ping();
              expect(heard.get(seriesKeys(id, 'm:').channel) ?? []).toEqual(m.published);
              heard.delete(seriesKeys(id, 'm:').channel);
              m.published = [];
              // The updates after each offset the history still reaches (and none before it).
              const epoch = (await redis.hget(seriesKeys(id, 'm:').pos, 'epoch')) ?? '';
              for (let since = Math.max(0, m.offset - KEEP - 1); since <= m.offset && epoch; since++) {
                const read = await reader.history(id, epoch, since, 60_000);
                if (since < Math.max(m.offset - KEEP, m.seededAt)) expect(read).toEqual({ ok: false, reason: 'gone' });
                else expect(read.ok ? { offset: read.offset, updates: read.updates.map((u) => `${u.offset} ${encodeBar(u.bar)}`) } : read).toEqual({ offset: m.offset, updates: m.history.slice(m.history.length - (m.offset - since)) });
              }
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    // ~5 s on a quiet machine: room for one six times as loaded (30 s ran out at load average 8-13).
  }, 120_000);
});
