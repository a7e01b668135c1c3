import { Redis } from 'ioredis';
import { filter, firstValueFrom, merge, skip } from 'rxjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { BUSY_GAP_MS, FencedWriter } from '../../../engine/src/cluster/fenced-writer.ts';
import { LeaderLease } from '../../../engine/src/cluster/leader-lease.ts';
import { SeriesReader } from '../../../engine/src/cluster/series-reader.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

const id = seriesId('BTCUSDT', '1m');
const bar = (minute: number, volume: number, closed = false, close = 10): Bar => ({ openTime: minute * 60_000, open: 10, high: 12, low: 9, close, volume, closed });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function client(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(50 * n, 500) });
  r.on('error', () => {}); // the restarts below refuse connections for a moment
  return r;
}

const redisUp = await hasRedisServer('fenced writer and lease (own redis-server)');

describe.runIf(redisUp)('fenced writer and lease (own redis-server)', () => {
  let server: RedisProcess;
  let redis: Redis;
  const keys = leaseKeys('t:');
  beforeAll(async () => {
    server = await RedisProcess.start({ aof: true });
    redis = client(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  const writers: FencedWriter[] = [];
  afterEach(() => {
    for (const w of writers.splice(0)) w.close();
  });
  const writer = (r = redis, historyUpdates = 100) => {
    const w = new FencedWriter({ redis: r, keyPrefix: 't:', leaseKey: keys.lease, bufferSize: 5, historyUpdates });
    writers.push(w);
    return w;
  };

  it('one of two nodes leads, with a term from INCR; the standby leads soon after the leader stops', async () => {
    // A lease a steps down from only if this process stalls 3.5 s (its TTL less a renewal period and a
    // quarter): at 600 ms, a stall of ~400 ms let the lease lapse between two renewals and b take it; at
    // 2 s renewed every 667 ms, one of 1.2 s could make a step down.
    const a = new LeaderLease({ redis, keys, nodeId: 'a', ttlMs: 4000, renewEveryMs: 400 });
    const b = new LeaderLease({ redis, keys, nodeId: 'b', ttlMs: 4000, renewEveryMs: 400 });
    a.start();
    await firstValueFrom(a.leader$.pipe(filter(Boolean)));
    b.start();
    await sleep(4100); // longer than the ttl: a renews, b keeps failing
    expect(a.state).toMatchObject({ leader: true, term: 1 });
    expect(b.state.leader).toBe(false);
    expect(await redis.get(keys.lease)).toBe(a.state.token);
    await a.stop();
    await firstValueFrom(b.leader$.pipe(filter(Boolean)));
    expect(b.state.term).toBe(2);
    await b.stop();
  });

  it('after Redis lost the lease and the term, the next term is numbered above every one the nodes saw, and the leader says why it stepped down', async () => {
    const a = new LeaderLease({ redis, keys, nodeId: 'a', ttlMs: 600 });
    const b = new LeaderLease({ redis, keys, nodeId: 'b', ttlMs: 600 });
    await redis.set(keys.term, 6); // terms led before these two nodes came
    a.start();
    await firstValueFrom(a.leader$.pipe(filter(Boolean)));
    b.start();
    expect(a.state.term).toBe(7);
    await sleep(300); // b has tried and learned term 7
    await redis.flushall(); // the data lost: no lease, no term
    await firstValueFrom(a.leader$.pipe(filter((l) => !l)));
    expect(a.lastStepDown).toMatch(/gone from Redis/);
    const next = await firstValueFrom(merge(a.leadership$, b.leadership$).pipe(filter((l) => l.leader)));
    // INCR alone would have said 1.
    expect(next.term).toBe(8);
    await a.stop();
    await b.stop();
  });

  it('a lease key with no expiry (not one a node took) is taken over, whatever its type (reproduced: no leader for as long as it stood)', async () => {
    for (const plant of [() => redis.hset(keys.lease, 'x', '1'), () => redis.set(keys.lease, 'someone')]) {
      await redis.del(keys.lease);
      await plant();
      const a = new LeaderLease({ redis, keys, nodeId: 'a', ttlMs: 4000, renewEveryMs: 400 });
      a.start();
      await firstValueFrom(a.leader$.pipe(filter(Boolean)));
      expect(await redis.get(keys.lease)).toBe(a.state.token);
      await a.stop();
    }
    // Another type with an expiry is no node's either (reproduced: no leader until it lapsed).
    await redis.hset(keys.lease, 'x', '1');
    await redis.pexpire(keys.lease, 60_000);
    const h = new LeaderLease({ redis, keys, nodeId: 'h', ttlMs: 4000, renewEveryMs: 400 });
    h.start();
    await firstValueFrom(h.leader$.pipe(filter(Boolean)));
    expect(await redis.get(keys.lease)).toBe(h.state.token);
    await h.stop();
    // A string with an expiry is a node's: left to it.
    await redis.set(keys.lease, 'other', 'PX', 5000);
    const b = new LeaderLease({ redis, keys, nodeId: 'b', ttlMs: 4000, renewEveryMs: 200 });
    b.start();
    await sleep(600);
    expect(b.state.leader).toBe(false);
    await b.stop();
    await redis.del(keys.lease);
  });

  it('a leader whose lease key is replaced by another type steps down saying so and a node leads again; a term key that is not a count is numbered from the floor (reproduced: "redis unreachable (WRONGTYPE…)", no leader until the key lapsed; a hash term failed every acquire)', async () => {
    await redis.del(keys.lease);
    await redis.set(keys.term, 'not a count');
    const a = new LeaderLease({ redis, keys, nodeId: 'a', ttlMs: 3000, renewEveryMs: 300 });
    a.start();
    const first = await firstValueFrom(a.leadership$.pipe(filter((l) => l.leader)));
    expect(first.term).toBe(1);
    const down = firstValueFrom(a.leadership$.pipe(filter((l) => !l.leader)));
    await redis.del(keys.lease);
    await redis.hset(keys.lease, 'x', '1');
    await redis.pexpire(keys.lease, 60_000);
    await redis.del(keys.term);
    await redis.hset(keys.term, 'y', '2');
    await down;
    expect(a.lastStepDown).toMatch(/holds something no node wrote/);
    const next = await firstValueFrom(a.leadership$.pipe(filter((l) => l.leader)));
    // Above every term the node saw, though the stored one was no count.
    expect(next.term).toBe(2);
    expect(await redis.get(keys.lease)).toBe(a.state.token);
    await a.stop();
    await redis.del(keys.term);
  });

  it('a leader that steps down for an unanswered renewal gives the lease back: a node leads again at once, not a TTL later (reproduced: an acquire answered after a CLIENT PAUSE, no leader for a TTL)', async () => {
    await redis.del(keys.lease);
    const a = new LeaderLease({ redis, keys, nodeId: 'a', ttlMs: 4000, renewEveryMs: 400 });
    const pauser = client(server.url);
    await pauser.client('PAUSE', 4300);
    a.start(); // its acquire is answered after the pause: past its own deadline for the lease
    const down = firstValueFrom(a.leadership$.pipe(filter((l) => !l.leader), skip(1)));
    await firstValueFrom(a.leader$.pipe(filter(Boolean)));
    await down;
    const steppedAt = performance.now();
    expect(a.lastStepDown).toMatch(/did not answer a renewal/);
    await firstValueFrom(a.leader$.pipe(filter(Boolean)));
    // The old lease (set when the pause ended, 4 s) would have held it off ~3.6 s more.
    expect(performance.now() - steppedAt).toBeLessThan(2500);
    await a.stop();
    pauser.disconnect();
  });

  it('a leader whose lease lapsed (paused past it) is fenced: its write is refused, nothing is stored or published', async () => {
    // The lease is made to lapse after the first write is answered, not 150 ms after it was set: a
    // loaded machine took longer than that to send the first write (it was fenced, not written).
    await redis.set(keys.lease, 'old', 'PX', 5000);
    const w = writer();
    expect(await w.write('old', id, bar(1, 1))).toMatchObject({ kind: 'written', offset: 1 });
    await redis.pexpire(keys.lease, 100);
    for (const deadline = Date.now() + 10_000; (await redis.exists(keys.lease)) === 1; await sleep(20)) if (Date.now() > deadline) throw new Error('the lease did not lapse');
    await redis.set(keys.lease, 'new', 'PX', 5000, 'NX');
    const sub = client(server.url);
    const heard: string[] = [];
    await sub.subscribe(seriesKeys(id, 't:').channel);
    sub.on('message', (_c, m: string) => heard.push(m));
    expect(await w.write('old', id, bar(1, 2))).toEqual({ kind: 'fenced' });
    expect(await w.write('new', id, bar(1, 3))).toMatchObject({ kind: 'written', offset: 2 });
    // Published before the writes' replies: heard by the time the subscriber's PING is answered (a fixed
    // 50 ms was a guess that a loaded machine can miss).
    await sub.ping();
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatch(/^[\w-]+ 2 \[60000,10,12,9,10,3,0\]$/);
    sub.disconnect();
  });

  it("sets a freed series' keys to expire and keeps them again, only under the lease; a later write keeps the expiry", async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    await w.write('tok', id, bar(1, 1));
    await w.write('tok', id, bar(2, 1));
    const k = seriesKeys(id, 't:');
    const ttls = () => Promise.all([redis.pttl(k.candles), redis.pttl(k.pos)]);
    expect(await w.expireSeries('stale', id, 60_000)).toBe(false);
    expect(await ttls()).toEqual([-1, -1]);
    expect(await w.expireSeries('tok', id, 60_000)).toBe(true);
    for (const t of await ttls()) expect(t).toBeGreaterThan(59_000);
    // An update of the newest bar in flight when the series was freed.
    expect(await w.write('tok', id, bar(2, 2))).toMatchObject({ kind: 'written' });
    for (const t of await ttls()) expect(t).toBeGreaterThan(59_000);
    expect(await w.expireSeries('stale', id, 0)).toBe(false);
    for (const t of await ttls()) expect(t).toBeGreaterThan(0);
    expect(await w.expireSeries('tok', id, 0)).toBe(true);
    expect(await ttls()).toEqual([-1, -1]);
  });

  it('keeps at most maxFreedKept freed series in the cluster, across leaders: one more freed drops the oldest one\'s keys now; one held again leaves the count', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = new FencedWriter({ redis, keyPrefix: 't:', leaseKey: keys.lease, bufferSize: 5, historyUpdates: 100, maxFreedKept: 2 });
    const ids = ['AAAUSDT', 'BBBUSDT', 'CCCUSDT', 'DDDUSDT', 'EEEUSDT'].map((s) => seriesId(s, '1m'));
    const [a, b, c, d, e] = ids as [typeof id, typeof id, typeof id, typeof id, typeof id];
    for (const x of ids) await w.write('tok', x, bar(1, 1));
    const ttl = (x: typeof id) => redis.pttl(seriesKeys(x, 't:').candles);
    const exists = (x: typeof id) => redis.exists(seriesKeys(x, 't:').candles, seriesKeys(x, 't:').pos); // hist: only in older logs
    // An older log of A still has its hist list: dropped with the rest.
    await redis.rpush(seriesKeys(a, 't:').hist, 'x');
    expect(await w.expireSeries('tok', a, 60_000)).toBe(true);
    await sleep(3);
    expect(await w.expireSeries('tok', b, 60_000)).toBe(true);
    expect(await exists(a)).toBe(2);
    expect(await redis.exists(seriesKeys(a, 't:').hist)).toBe(1);
    await sleep(3);
    expect(await w.expireSeries('tok', c, 60_000)).toBe(true);
    // A, the oldest freed, is gone (candles, pos, hist); B and C expire in their time.
    expect(await exists(a)).toBe(0);
    expect(await redis.exists(seriesKeys(a, 't:').hist)).toBe(0);
    for (const x of [b, c]) expect(await ttl(x)).toBeGreaterThan(59_000);
    // B held again: it leaves the count, so freeing D drops nothing.
    expect(await w.expireSeries('tok', b, 0)).toBe(true);
    await sleep(3);
    expect(await w.expireSeries('tok', d, 60_000)).toBe(true);
    expect([await ttl(b), await exists(c), await exists(d)]).toEqual([-1, 2, 2]);
    // A new leader (another writer, another token) counts on from there: freeing E drops C.
    await redis.set(keys.lease, 'tok2', 'PX', 5000);
    const r2 = client(server.url);
    const w2 = new FencedWriter({ redis: r2, keyPrefix: 't:', leaseKey: keys.lease, bufferSize: 5, historyUpdates: 100, maxFreedKept: 2 });
    expect(await w.expireSeries('tok', e, 60_000)).toBe(false); // the old one is fenced
    await sleep(3);
    expect(await w2.expireSeries('tok2', e, 60_000)).toBe(true);
    expect([await exists(c), await exists(d), await exists(e)]).toEqual([0, 2, 2]);
    expect(await redis.zrange(keys.freed, 0, -1)).toEqual([d.key, e.key]);
    // A series whose keys were kept for good again (its keep not in the set yet) is forgotten, not dropped.
    await redis.persist(seriesKeys(d, 't:').candles);
    await sleep(3); // scored by Redis's clock in ms: B after E, not in the same ms
    expect(await w2.expireSeries('tok2', b, 60_000)).toBe(true);
    expect([await ttl(d), await exists(d)]).toEqual([-1, 2]);
    expect(await redis.zrange(keys.freed, 0, -1)).toEqual([e.key, b.key]);
    expect(await redis.pttl(keys.freed)).toBeGreaterThan(59_000);
    // A series never written is not counted (it would push one with bars out).
    expect(await w2.expireSeries('tok2', seriesId('FFFUSDT', '1m'), 60_000)).toBe(true);
    expect(await redis.zrange(keys.freed, 0, -1)).toEqual([e.key, b.key]);
    r2.disconnect();
  });

  it('drops an update older than the stored version of its bar; duplicates advance nothing', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    const r1 = await w.write('tok', id, bar(1, 5));
    expect(r1).toMatchObject({ kind: 'written', offset: 1 });
    expect(await w.write('tok', id, bar(1, 5))).toMatchObject({ kind: 'dropped', offset: 1 }); // the same again
    expect(await w.write('tok', id, bar(1, 4))).toMatchObject({ kind: 'dropped', offset: 1 }); // less volume: older
    expect(await w.write('tok', id, bar(1, 7, true))).toMatchObject({ kind: 'written', offset: 2 });
    expect(await w.write('tok', id, bar(1, 9, false))).toMatchObject({ kind: 'dropped', offset: 2 }); // forming after closed
    expect(await w.write('tok', id, bar(1, 7, true, 11))).toMatchObject({ kind: 'written', offset: 3 }); // a correction of the closed bar
    expect(await w.write('tok', id, bar(2, 1))).toMatchObject({ kind: 'written', offset: 4, epoch: (r1 as { epoch: string }).epoch });
    const snap = await new SeriesReader(redis, 't:').snapshot(id, 10);
    expect(snap).toMatchObject({ epoch: (r1 as { epoch: string }).epoch, offset: 4, bars: [bar(1, 7, true, 11), bar(2, 1)] });
    expect(snap.history.map((u) => [u.offset, u.bar])).toEqual([[1, bar(1, 5)], [2, bar(1, 7, true)], [3, bar(1, 7, true, 11)], [4, bar(2, 1)]]);
  });

  it('keeps the sorted set capped and the history bounded; reads history after an offset, refuses what it no longer has', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer(redis, 4);
    let epoch = '';
    for (let m = 1; m <= 8; m++) epoch = ((await w.write('tok', id, bar(m, 1))) as { epoch: string }).epoch;
    expect(await redis.zcard(seriesKeys(id, 't:').candles)).toBe(5);
    const reader = new SeriesReader(redis, 't:');
    expect((await reader.snapshot(id, 10)).history.map((u) => u.offset)).toEqual([5, 6, 7, 8]);
    expect(await reader.history(id, epoch, 5, 60_000)).toEqual({ ok: true, offset: 8, updates: [6, 7, 8].map((m) => ({ offset: m, bar: bar(m, 1) })) });
    expect(await reader.history(id, epoch, 4, 60_000)).toMatchObject({ ok: true, offset: 8 });
    expect(await reader.history(id, epoch, 3, 60_000)).toEqual({ ok: false, reason: 'gone' });
    expect(await reader.history(id, epoch, 8, 60_000)).toEqual({ ok: true, offset: 8, updates: [] });
    expect(await reader.history(id, 'other', 5, 60_000)).toEqual({ ok: false, reason: 'epoch' });
    await sleep(30);
    expect(await reader.history(id, epoch, 5, 10)).toEqual({ ok: false, reason: 'gone' }); // older than maxAgeMs
  });

  it('writes made in one turn keep their order, while the Redis identity is still being read and after', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer(redis, 1000);
    // Each write has more volume than the one before: one sent out of order would be dropped as older.
    const first = Array.from({ length: 50 }, (_, i) => w.write('tok', id, bar(1, i + 1)));
    const settled = await Promise.all(first);
    const second = Array.from({ length: 50 }, (_, i) => w.write('tok', id, bar(1, i + 51)));
    const all = [...settled, ...(await Promise.all(second))];
    expect(all.map((r) => (r as { kind: string; offset: number }).kind)).toEqual(Array(100).fill('written'));
    expect(all.map((r) => (r as { offset: number }).offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('the writes of one turn go to Redis in one script call; each series keeps its own offsets, a fresh series its own epoch', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer(redis, 1000);
    const other = seriesId('ETHUSDT', '1m');
    await w.write('tok', id, bar(1, 1)); // the identity is known from here on
    await redis.config('RESETSTAT');
    const turn = [w.write('tok', id, bar(1, 2)), w.write('tok', other, bar(1, 1)), w.write('tok', id, bar(1, 2)), w.write('tok', other, bar(2, 1)), w.write('tok', id, bar(1, 3, true))];
    const r = (await Promise.all(turn)) as Array<{ kind: string; offset: number; epoch: string }>;
    expect(r.map((x) => [x.kind, x.offset])).toEqual([['written', 2], ['written', 1], ['dropped', 2], ['written', 2], ['written', 3]]);
    expect(r[0]!.epoch).toBe(r[2]!.epoch);
    expect(r[1]!.epoch).toBe(r[3]!.epoch);
    expect(r[1]!.epoch).not.toBe(r[0]!.epoch);
    expect(await redis.info('commandstats')).toMatch(/^cmdstat_evalsha:calls=1,/m);
  });

  it('a sustained flow goes in calls at most every BUSY_GAP_MS, in order; after a pause a write goes in its own turn again', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer(redis, 1000);
    await w.write('tok', id, bar(1, 1));
    // Each call's time and number of updates (its first argument is the number of keys: 1 + 3 per update).
    const calls: Array<{ at: number; n: number }> = [];
    const r = redis as unknown as { clusterWriteBatch(...a: unknown[]): Promise<unknown> };
    const send = r.clusterWriteBatch.bind(redis);
    r.clusterWriteBatch = (...a: unknown[]) => (calls.push({ at: performance.now(), n: (Number(a[0]) - 1) / 3 }), send(...a));
    // The first three calls after a pause of 20 ms (the start; a stall of this process) go at once;
    // every later one waits out the gap after the one before, unless it is full (256 updates).
    const gapsOf = () => {
      const out: number[] = [];
      let sincePause = 0;
      for (let i = 1; i < calls.length; i++) {
        const gap = calls[i]!.at - calls[i - 1]!.at;
        sincePause = gap >= 19 ? 1 : sincePause + 1;
        if (sincePause > 3 && calls[i]!.n < 256) out.push(gap);
      }
      return out;
    };
    // A write about every millisecond for 300 ms (longer on a machine so loaded that stalls left too
    // few gaps to judge): without the gap, one call each (a round trip is shorter).
    const written: Array<Promise<unknown>> = [];
    const t0 = performance.now();
    for (let v = 2; performance.now() - t0 < 300 || (gapsOf().length <= 20 && performance.now() - t0 < 5000); v++) {
      written.push(w.write('tok', id, bar(1, v)));
      await sleep(0);
    }
    const results = (await Promise.all(written)) as Array<{ kind: string; offset: number }>;
    const elapsed = performance.now() - t0;
    expect(results.every((x, i) => x.kind === 'written' && x.offset === i + 2)).toBe(true);
    const gaps = gapsOf();
    const pauses = calls.filter((c, i) => i > 0 && c.at - calls[i - 1]!.at >= 19).length;
    expect(calls.length).toBeLessThanOrEqual(Math.ceil(elapsed / BUSY_GAP_MS) + 4 + 3 * pauses);
    expect(gaps.length).toBeGreaterThan(10);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(BUSY_GAP_MS - 0.05); // stamped here a few µs from where the writer reads its clock
    // Idle again: the next write's call is made in the turn after it, not after a gap.
    await sleep(30);
    const before = calls.length;
    const last = w.write('tok', id, bar(1, written.length + 2));
    await new Promise(setImmediate);
    expect(calls.length).toBe(before + 1);
    expect(await last).toMatchObject({ kind: 'written', offset: written.length + 2 });
  });

  it("a burst's first three calls after a pause go without waiting for each other's answers; later ones wait, in order (before: each waited a round trip for the one before)", async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer(redis, 1000);
    await w.write('tok', id, bar(1, 1)); // the identity is known from here on
    await sleep(30); // a pause: the next call starts a burst
    // Every call's answer held until released, so a call that waited for one shows as not made.
    const held: Array<() => void> = [];
    let made = 0;
    const r = redis as unknown as { clusterWriteBatch(...a: unknown[]): Promise<unknown> };
    const original = r.clusterWriteBatch;
    const send = original.bind(redis);
    onTestFinished(() => void (r.clusterWriteBatch = original)); // the connection serves the tests after this one
    r.clusterWriteBatch = (...a: unknown[]) => {
      made++;
      const answer = send(...a);
      return new Promise((ok, fail) => held.push(() => answer.then(ok, fail)));
    };
    const turn = () => new Promise(setImmediate);
    // Five turns of one update each (an exchange's tick read in chunks).
    const written: Array<Promise<unknown>> = [];
    for (let v = 2; v <= 6; v++) {
      written.push(w.write('tok', id, bar(1, v)));
      await turn();
      await turn();
    }
    expect(made).toBe(3);
    let settled = false;
    const all = Promise.all(written).finally(() => (settled = true));
    for (let i = 0; i < 200 && !settled; i++) {
      held.splice(0).forEach((release) => release());
      await sleep(5);
    }
    const results = (await all) as Array<{ kind: string; offset: number }>;
    expect(results.map((x) => [x.kind, x.offset])).toEqual([2, 3, 4, 5, 6].map((o) => ['written', o]));
    // The fourth and fifth waited for answers and went together.
    expect(made).toBe(4);
  });

  it('a backlog of many windows waits in the writer, a few calls out at a time: another command on the connection is answered meanwhile', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 60_000);
    const w = writer(redis, 1000);
    await w.write('tok', id, bar(1, 1)); // the identity is known from here on
    let out = 0;
    let most = 0;
    const r = redis as unknown as { clusterWriteBatch(...a: unknown[]): Promise<unknown> };
    const send = r.clusterWriteBatch.bind(redis);
    r.clusterWriteBatch = async (...a: unknown[]) => {
      most = Math.max(most, ++out);
      try {
        return await send(...a);
      } finally {
        out--;
      }
    };
    // 200 series' windows of 300 bars seeded in one turn (a leader holding an edge's burst of on-demand series).
    let last = 0;
    const written: Array<Promise<unknown>> = [];
    for (let s = 0; s < 200; s++) for (let m = 1; m <= 300; m++) written.push(w.write('tok', seriesId(`S${s}USDT`, '1m'), bar(m, 1, true)).then((x) => ((last = performance.now()), x)));
    const pinged = redis.ping().then(() => performance.now());
    const results = (await Promise.all(written)) as Array<{ kind: string }>;
    expect(results.every((x) => x.kind === 'written')).toBe(true);
    expect(most).toBeLessThanOrEqual(4);
    // Before, every call of the backlog went at once and the PING waited behind all 60,000 updates.
    expect(await pinged).toBeLessThan(last);
  });

  it('a batch under a stale token is refused as a whole: nothing of it is stored or published; a later token in the same turn writes', async () => {
    await redis.set(keys.lease, 'new', 'PX', 5000);
    const w = writer();
    const other = seriesId('ETHUSDT', '1m');
    const sub = client(server.url);
    const heard: string[] = [];
    await sub.subscribe(seriesKeys(id, 't:').channel, seriesKeys(other, 't:').channel);
    sub.on('message', (_c, m: string) => heard.push(m));
    await w.write('new', id, bar(1, 1));
    const turn = [w.write('old', id, bar(1, 2)), w.write('old', other, bar(1, 1)), w.write('old', id, bar(2, 1)), w.write('new', other, bar(1, 5))];
    expect(await Promise.all(turn)).toEqual([{ kind: 'fenced' }, { kind: 'fenced' }, { kind: 'fenced' }, expect.objectContaining({ kind: 'written', offset: 1 })]);
    const reader = new SeriesReader(redis, 't:');
    expect(await reader.snapshot(id, 10)).toMatchObject({ offset: 1, bars: [bar(1, 1)] });
    expect(await reader.snapshot(other, 10)).toMatchObject({ offset: 1, bars: [bar(1, 5)] });
    await sub.ping(); // published before the writes' replies: heard by now
    expect(heard.map((m) => m.split(' ').slice(1).join(' '))).toEqual(['1 [60000,10,12,9,10,1,0]', '1 [60000,10,12,9,10,5,0]']);
    sub.disconnect();
  });

  it('a stored member that does not decode is replaced by the next update of its bar (reproduced: every update of that bar failed, for good)', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    const other = seriesId('ETHUSDT', '1m');
    await w.write('tok', id, bar(1, 1));
    await w.write('tok', id, bar(3, 1));
    const k = seriesKeys(id, 't:');
    // Older than the newest bar: read from the set (a newer bar needs no lookup, see the newest-bar cache).
    await redis.zadd(k.candles, 120_000, 'not json');
    const turn = [w.write('tok', id, bar(2, 1)), w.write('tok', other, bar(2, 1)), w.write('tok', id, bar(3, 2))];
    expect((await Promise.all(turn)).map((r) => [r.kind, (r as { offset: number }).offset])).toEqual([['written', 3], ['written', 1], ['written', 4]]);
    expect(await redis.zrangebyscore(k.candles, 120_000, 120_000)).toEqual([JSON.stringify([120_000, 10, 12, 9, 10, 1, 0])]);
    // The newest bar's cached member (pos's nm) garbled: its next update is written all the same.
    await redis.hset(k.pos, 'nm', 'garbage');
    expect(await w.write('tok', id, bar(3, 3))).toMatchObject({ kind: 'written', offset: 5 });
    expect(await redis.hget(k.pos, 'nm')).toBe(JSON.stringify([180_000, 10, 12, 9, 10, 3, 0]));
  });

  it('a live update (begins: false) does not begin a log gone whole: answered lost, nothing written or published; with its bars kept, or as any other write, it begins a new epoch', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    const k = seriesKeys(id, 't:');
    const sub = client(server.url);
    const heard: string[] = [];
    await sub.subscribe(k.channel);
    sub.on('message', (_c, m: string) => heard.push(m));
    await w.write('tok', id, bar(1, 1));
    await redis.del(k.candles, k.pos);
    expect(await w.write('tok', id, bar(1, 2), { begins: false })).toEqual({ kind: 'lost' });
    expect(await redis.exists(k.candles, k.pos)).toBe(0);
    // Its position alone lost: the bars are there, a new epoch begins with them.
    await w.write('tok', id, bar(1, 3));
    await redis.del(k.pos);
    expect(await w.write('tok', id, bar(1, 4), { begins: false })).toMatchObject({ kind: 'written', offset: 1 });
    await sub.ping();
    expect(heard.map((m) => m.split(' ').slice(1).join(' '))).toEqual(['1 [60000,10,12,9,10,1,0]', '1 [60000,10,12,9,10,3,0]', '1 [60000,10,12,9,10,4,0]']);
    sub.disconnect();
  });

  it('a log whose set alone went (evicted or deleted, its pos kept) is lost whole: a live update is answered lost and its pos goes; any other write begins a new epoch (reproduced: written on under its epoch from one bar)', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    const k = seriesKeys(id, 't:');
    const epochOf = (r: unknown) => (r as { epoch: string }).epoch;
    // The newest bar's next update, a new bar, and an older bar the set has none of: each tells.
    for (const [update, newer] of [[bar(2, 2), bar(2, 3)], [bar(3, 1), bar(3, 2)], [bar(1, 5), bar(1, 6)]] as const) {
      await redis.del(k.candles, k.pos);
      await w.write('tok', id, bar(0, 1));
      await w.write('tok', id, bar(2, 1));
      await redis.del(k.candles);
      expect(await w.write('tok', id, update, { begins: false })).toEqual({ kind: 'lost' });
      expect(await redis.exists(k.candles, k.pos)).toBe(0);
      // As a write that may begin a log: a new epoch, from offset 1.
      await w.write('tok', id, bar(0, 1));
      const before = epochOf(await w.write('tok', id, bar(2, 1)));
      await redis.del(k.candles);
      const r = await w.write('tok', id, newer);
      expect(r).toMatchObject({ kind: 'written', offset: 1 });
      expect(epochOf(r)).not.toBe(before);
      expect(await redis.zcard(k.candles)).toBe(1);
    }
    // A set that holds its newest bar is written on under its epoch (no false alarm).
    const kept = epochOf(await w.write('tok', id, bar(3, 3)));
    expect(await w.write('tok', id, bar(3, 4), { begins: false })).toMatchObject({ kind: 'written', epoch: kept });
    expect(await w.write('tok', id, bar(4, 1), { begins: false })).toMatchObject({ kind: 'written', epoch: kept });
  });

  it('a position that does not read (an offset not a count, an epoch not an id) starts a new epoch at the next write (reproduced: every write failed for good; a 64 KB epoch went out with every update)', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    const k = seriesKeys(id, 't:');
    const reader = new SeriesReader(redis, 't:');
    const first = await w.write('tok', id, bar(1, 1));
    let epoch = (first as { epoch: string }).epoch;
    let volume = 1;
    for (const [field, value] of [['offset', 'abc'], ['offset', '-1000'], ['offset', '2.5'], ['epoch', 'x'.repeat(65)], ['epoch', 'bad.epoch!']] as const) {
      await redis.hset(k.pos, field, value);
      // Read meanwhile as no position (not an error: an edge would retry it for good; read as it was, a
      // negative offset and an epoch resumes are refused for went out to clients).
      // (Its bar still read: the one written, whatever the position says.)
      const read = await reader.snapshot(id, 10);
      expect(read.bars.map((b) => b.volume)).toEqual([volume]);
      expect([field, value, read.epoch, read.offset, read.history]).toEqual([field, value, '', 0, []]);
      const r = (await w.write('tok', id, bar(1, ++volume))) as { kind: string; offset: number; epoch: string };
      expect([field, value, r.kind, r.offset]).toEqual([field, value, 'written', 1]);
      expect(r.epoch).not.toBe(epoch);
      expect(r.epoch).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      epoch = r.epoch;
    }
  });

  it("a series whose set cannot be written fails its updates of the call alone: none of them published, its offset not advanced; the other series' are written", async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const w = writer();
    const other = seriesId('ETHUSDT', '1m');
    await w.write('tok', id, bar(1, 1));
    // pos still names the newest bar, so nothing reads the set before the call's end writes it.
    const k = seriesKeys(id, 't:');
    await redis.del(k.candles);
    await redis.set(k.candles, 'not a sorted set');
    const sub = client(server.url);
    const heard: string[] = [];
    await sub.subscribe(k.channel, seriesKeys(other, 't:').channel);
    sub.on('message', (c: string, m: string) => heard.push(`${c} ${m.split(' ').slice(1).join(' ')}`));
    const turn = [w.write('tok', id, bar(1, 2)), w.write('tok', other, bar(1, 1)), w.write('tok', id, bar(2, 1))];
    const [a, b, c] = await Promise.allSettled(turn);
    expect([a!.status, c!.status]).toEqual(['rejected', 'rejected']);
    expect(String((a as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(b).toMatchObject({ status: 'fulfilled', value: { kind: 'written', offset: 1 } });
    await sub.ping();
    expect(heard).toEqual([`${seriesKeys(other, 't:').channel} 1 [60000,10,12,9,10,1,0]`]);
    expect(await redis.hget(k.pos, 'offset')).toBe('1');
    sub.disconnect();
  });

  it('a log written before pos kept its history (a list at hist, no nt/nm/hk) starts a new epoch at its next write, its bars kept', async () => {
    await redis.set(keys.lease, 'tok', 'PX', 5000);
    const k = seriesKeys(id, 't:');
    const runid = /^run_id:([0-9a-f]+)/m.exec(await redis.info('server'))![1]!;
    await redis.zadd(k.candles, 60_000, JSON.stringify([60_000, 10, 12, 9, 10, 5, 1]), 120_000, JSON.stringify([120_000, 10, 12, 9, 10, 3, 0]));
    await redis.hset(k.pos, 'epoch', 'old', 'offset', 7, 'runid', runid);
    await redis.rpush(k.hist, `7 ${Date.now()} ${JSON.stringify([120_000, 10, 12, 9, 10, 3, 0])}`);
    const w = writer();
    expect(await w.write('tok', id, bar(2, 2))).toMatchObject({ kind: 'dropped', offset: 0 }); // less volume than the stored newest bar
    expect(await w.write('tok', id, bar(2, 4))).toMatchObject({ kind: 'written', offset: 1 });
    expect(await redis.exists(k.hist)).toBe(0);
    const snap = await new SeriesReader(redis, 't:').snapshot(id, 10);
    expect(snap.epoch).not.toBe('old');
    expect(snap).toMatchObject({ offset: 1, bars: [bar(1, 5, true), bar(2, 4)] });
    expect(snap.history.map((u) => [u.offset, u.bar])).toEqual([[1, bar(2, 4)]]);
  });

  it.each([
    ['with its data (AOF)', true, 1],
    ['without its data', false, 0],
  ])('a Redis restarted %s gives a new epoch: an offset is never reused under an old epoch', async (_what, aof, kept) => {
    const own = await RedisProcess.start({ aof });
    const r = client(own.url);
    try {
      await r.set(keys.lease, 'tok', 'PX', 60_000);
      const w = writer(r);
      const before = (await w.write('tok', id, bar(1, 1))) as { epoch: string; offset: number };
      await w.write('tok', id, bar(1, 2));
      await own.restart(); // the run_id changes either way
      await ready(r);
      expect(await r.zcard(seriesKeys(id, 't:').candles)).toBe(kept);
      if (!aof) await r.set(keys.lease, 'tok', 'PX', 60_000); // the lease went with the data
      const after = (await w.write('tok', id, bar(2, 1))) as { kind: string; epoch: string; offset: number };
      expect(after).toMatchObject({ kind: 'written', offset: 1 });
      expect(after.epoch).not.toBe(before.epoch);
      expect(await new SeriesReader(r, 't:').history(id, before.epoch, 1, 60_000)).toEqual({ ok: false, reason: 'epoch' });
      // The history holds this epoch's update alone (the old epoch's offset 2 is no part of it).
      expect((await new SeriesReader(r, 't:').snapshot(id, 10)).history.map((u) => [u.offset, u.bar])).toEqual([[1, bar(2, 1)]]);
    } finally {
      r.disconnect();
      await own.stop();
    }
  });
});

/** Resolves once the client has reconnected. */
function ready(r: Redis): Promise<void> {
  return new Promise((resolve) => (r.status === 'ready' ? resolve() : r.once('ready', () => resolve())));
}
