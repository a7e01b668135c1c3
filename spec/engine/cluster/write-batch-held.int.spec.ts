import { fc } from '@fast-check/vitest';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { type BarWriteResult, FencedWriter } from '../../../engine/src/cluster/fenced-writer.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

const CAP = 4;
const KEEP = 6;
const ids = [seriesId('BTCUSDT', '1m'), seriesId('ETHUSDT', '1m')];
const SIDES = ['one:', 'each:'] as const;

/** What can happen to a log between two turns, from outside the writer (eviction, an operator, a lost cache). */
const arbFault = fc.constantFrom('none', 'none', 'none', 'set', 'newest', 'whole', 'runid');

const arbUpdate = fc.record({
  series: fc.integer({ min: 0, max: ids.length - 1 }),
  minute: fc.integer({ min: 0, max: 7 }),
  volume: fc.integer({ min: 1, max: 4 }),
  close: fc.integer({ min: 1, max: 2 }),
  closed: fc.boolean(),
  begins: fc.boolean(),
});

const redisUp = await hasRedisServer('a turn of updates in one write call (own redis-server, property)');

/**
 * The write script holds a log's writes while more updates of it follow in the same call (its pos
 * fields, the newest bar replaced again and again) and makes them at its last one. Compared here with
 * the same updates written one call each (nothing held), on random turns with faults between them.
 */
describe.runIf(redisUp)('a turn of updates in one write call (own redis-server, property)', () => {
  let server: RedisProcess;
  let redis: Redis;
  let sub: Redis;
  /** What each channel carried, by channel (the epoch as the n-th one the side saw). */
  const heard = new Map<string, string[]>();
  beforeAll(async () => {
    server = await RedisProcess.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    sub = new Redis(server.url, { maxRetriesPerRequest: 1 });
    await sub.psubscribe('*');
    sub.on('pmessage', (_p: string, ch: string, msg: string) => (heard.get(ch) ?? heard.set(ch, []).get(ch)!).push(msg));
  });
  afterAll(async () => {
    redis?.disconnect();
    sub?.disconnect();
    await server?.stop();
  });

  /** A side's epochs by order of appearance (the writer names each new one at random). */
  const epochNames = () => {
    const names = new Map<string, string>();
    return (e: string) => names.get(e) ?? names.set(e, `E${names.size}`).get(e)!;
  };

  /** A side's logs and what their channels carried, with its own epochs named in order. */
  async function side(prefix: string, name: (e: string) => string) {
    const out = [];
    for (const id of ids) {
      const k = seriesKeys(id, prefix);
      const pos = await redis.hgetall(k.pos);
      if (pos.epoch) pos.epoch = name(pos.epoch);
      // History entries (`offset at member`) without the time Redis wrote them.
      for (const f of Object.keys(pos)) if (/^\d+$/.test(f)) pos[f] = pos[f]!.replace(/^(\d+) \d+ /, '$1 ');
      out.push({
        bars: await redis.zrange(k.candles, 0, -1, 'WITHSCORES'),
        pos,
        hist: await redis.exists(k.hist),
        carried: (heard.get(k.channel) ?? []).map((m) => `${name(m.slice(0, m.indexOf(' ')))}${m.slice(m.indexOf(' '))}`),
      });
    }
    return out;
  }

  it('leaves Redis and the channels as the same updates written one call each, and answers each update alike', async () => {
    const lease = leaseKeys('');
    const writers = SIDES.map((p) => new FencedWriter({ redis, keyPrefix: p, leaseKey: lease.lease, bufferSize: CAP, historyUpdates: KEEP }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ fault: arbFault, on: fc.integer({ min: 0, max: ids.length - 1 }), updates: fc.array(arbUpdate, { minLength: 1, maxLength: 9 }) }), { minLength: 1, maxLength: 10 }), async (turns) => {
        await redis.flushall();
        await redis.set(lease.lease, 'tok');
        await sub.ping();
        heard.clear();
        const names = SIDES.map(() => epochNames());
        for (const { fault, on, updates } of turns) {
          for (const prefix of SIDES) {
            const k = seriesKeys(ids[on]!, prefix);
            if (fault === 'set') await redis.del(k.candles);
            if (fault === 'newest') await redis.hdel(k.pos, 'nt', 'nm');
            if (fault === 'whole') await redis.del(k.candles, k.pos, k.hist);
            if (fault === 'runid') await redis.hset(k.pos, 'runid', 'another-redis');
          }
          const bars = updates.map((u): [number, Bar, boolean] => [u.series, { openTime: u.minute * 60_000, open: 1, high: 2, low: 0.5, close: u.close, volume: u.volume, closed: u.closed }, u.begins]);
          // One side: the whole turn in one call. The other: each update in a call of its own.
          const inOne = await Promise.all(bars.map(([s, bar, begins]) => writers[0]!.write('tok', ids[s]!, bar, { begins })));
          const each: BarWriteResult[] = [];
          for (const [s, bar, begins] of bars) each.push(await writers[1]!.write('tok', ids[s]!, bar, { begins }));
          const shown = (rs: BarWriteResult[], name: (e: string) => string) => rs.map((r) => ('epoch' in r ? `${r.kind} ${name(r.epoch)} ${r.offset}` : r.kind));
          expect(shown(inOne, names[0]!)).toEqual(shown(each, names[1]!));
          await sub.ping();
          expect(await side(SIDES[0], names[0]!)).toEqual(await side(SIDES[1], names[1]!));
        }
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});
