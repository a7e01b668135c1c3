import { fc, test } from '@fast-check/vitest';
import { Redis } from 'ioredis';
import { lastValueFrom, from as fromPromise, Subject, type Observable, type Subscription, defer } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { candlesKey, type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { Metrics } from '../../../engine/src/metrics.ts';
import { type SeriesInput, type SpliceEvent, spliceGaps } from '../../../engine/src/operators/splice-gaps.ts';
import { bootstrap$ } from '../../../engine/src/pipeline/bootstrap.ts';
import { pipelineMetrics } from '../../../engine/src/pipeline/engine-metrics.ts';
import { persistAndPublish } from '../../../engine/src/pipeline/persist-publish.ts';
import type { BinanceRest } from '../../../engine/src/sources/binance-rest.ts';
import type { BarStore } from '../../../engine/src/store/bar-store.ts';
import { createMemoryBarStore } from '../../../engine/src/store/memory-bar-store.ts';
import { createRedisBarStore } from '../../../engine/src/store/redis-bar-store.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * Issue 14 part 8: what races in one series, under fast-check's scheduler. The exchange emits a
 * series' updates in order; the stream delivers them in order but late, loses some (omitted finals,
 * outages followed by a resync) and the engine may restart mid-way (bootstrap from the store, then
 * REST). REST fills reach the exchange and answer at scheduled moments, some fail; the sink writes the
 * store (memory, or Redis on DB 15 behind its write-behind) and publishes. Whatever the interleaving,
 * the model, the exchange's truth, must hold: no closed bar lost, none reordered, none wrong, in what
 * clients got, in the hot window, and in Redis.
 *
 * Failing cases found while writing it are kept at the bottom, replayed on every run.
 */

const M = 60_000;
const T0 = 1_700_000_040_000;
const BUFFER = 100;

/** The exchange's final bar i (bar i opens at T0 + i minutes). */
function truthBar(i: number): Bar {
  const open = 100 + ((i * 7919) % 97);
  const close = 100 + (((i + 1) * 7919) % 97);
  return { openTime: T0 + i * M, open, high: Math.max(open, close) + 3, low: Math.min(open, close) - 3, close, volume: 10 + (i % 13), closed: true };
}
/** Forming update k of bar i: differs from the final and from every other update. */
function formingBar(i: number, k: number): Bar {
  const t = truthBar(i);
  return { ...t, close: t.open + k + 1, high: t.high - 1, low: t.low + 1, volume: k, closed: false };
}

const arbScenario = fc.record({
  /** Forming updates before each final, bars 1..n. */
  updates: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 7 }),
  /** Finals the stream omits (the sim's omitFinals). */
  lostFinals: fc.array(fc.nat(), { maxLength: 2 }),
  /** Outages: events from `at` for `len` are lost, the reconnect brings a resync. */
  outages: fc.array(fc.record({ at: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }), { maxLength: 2 }),
  /** Events a rotation delivers twice (both sockets briefly deliver). */
  dupes: fc.array(fc.nat(), { maxLength: 3 }),
  /** How far (in events) the engine's estimate of the exchange's clock lags: a lower bound, never ahead. */
  clockLag: fc.integer({ min: 0, max: 3 }),
  /** REST calls (in call order) that fail. */
  restFails: fc.array(fc.boolean(), { maxLength: 8 }),
  /** Moments the store's writes complete (a Redis write-behind pipeline drained), among everything else. */
  ioTurns: fc.integer({ min: 0, max: 6 }),
  /** The engine restarts before delivering this event (none when past the end). */
  restartAt: fc.option(fc.integer({ min: 0, max: 24 }), { nil: undefined }),
});
type Scenario = typeof arbScenario extends fc.Arbitrary<infer T> ? T : never;
/** A bar as clients got it, and whether it was a hole repaired late. */
type Published = Bar & { repair: boolean };

interface Emitted {
  bucket: number;
  bar: Bar;
}

/** One run: the exchange, the stream, REST and the engine's series, all ordered by `s`. */
async function runScenario(s: fc.Scheduler, sc: Scenario, makeStore: () => BarStore, id: SeriesId) {
  const n = sc.updates.length;
  // The exchange's event sequence: bar 1..n (updates, final), then bar n+1 forming (always delivered).
  const events: Emitted[] = [];
  for (let i = 1; i <= n; i++) {
    for (let k = 0; k < sc.updates[i - 1]!; k++) events.push({ bucket: i, bar: formingBar(i, k) });
    events.push({ bucket: i, bar: truthBar(i) });
  }
  events.push({ bucket: n + 1, bar: formingBar(n + 1, 0) });
  const finals = events.flatMap((e, j) => (e.bar.closed ? [j] : []));
  const lost = new Set<number>(sc.lostFinals.map((x) => finals[x % finals.length]!));
  const dupes = new Set<number>(sc.dupes.map((x) => x % events.length));
  const outage = new Set<number>();
  for (const o of sc.outages) for (let j = o.at % events.length; j < Math.min(events.length - 1, (o.at % events.length) + o.len); j++) outage.add(j);

  // --- the exchange: emits in order, at scheduled moments ------------------------------------------
  let emitted = 0;
  const latest = new Map<number, Bar>([[0, truthBar(0)]]);
  const finalAt = new Map<number, number>([[0, -1]]);
  const emittedP: Promise<void>[] = [];
  let emitChain = Promise.resolve();
  events.forEach((e, j) => {
    emitChain = emitChain
      .then(() => s.schedule(Promise.resolve(), `emit ${j}`))
      .then(() => {
        emitted = j + 1;
        latest.set(e.bucket, e.bar);
        if (e.bar.closed) finalAt.set(e.bucket, j);
      });
    emittedP.push(emitChain);
  });

  /** REST klines as the exchange answers them now: rows of [from, to], closed if closed when asked or followed. */
  const answer = (fromT: number, toT: number | undefined, askedAt: number): Bar[] => {
    const current = emitted === 0 ? 0 : events[emitted - 1]!.bucket;
    const last = Math.min(current, toT === undefined ? Infinity : Math.floor((toT - T0) / M));
    const rows: Bar[] = [];
    for (let b = Math.max(0, Math.ceil((fromT - T0) / M)); b <= last; b++) {
      const bar = latest.get(b)!;
      // BinanceRest judges by the exchange clock as the engine knows it when asking: a lower bound.
      const closedWhenAsked = (finalAt.get(b) ?? Infinity) < askedAt - sc.clockLag;
      rows.push({ ...bar, closed: b < last || closedWhenAsked });
    }
    return rows;
  };
  let restCalls = 0;
  let restInFlight = 0;
  let reliable = false;
  const call = (what: string, compute: (askedAt: number) => Bar[]): Promise<Bar[]> => {
    const askedAt = emitted;
    const n = restCalls++;
    const fail = !reliable && sc.restFails[n] === true;
    restInFlight++;
    return s
      .schedule(Promise.resolve(), `rest ${n} ${what} reaches the exchange`)
      .then(() => s.schedule(Promise.resolve(compute(askedAt)), `rest ${n} answers`))
      .then((rows) => {
        if (fail) throw new Error(`rest ${n}: HTTP 500`);
        return rows;
      })
      .finally(() => restInFlight--);
  };
  const rest = {
    range$: (_symbol: string, _interval: string, fromT: number, toT?: number): Observable<Bar[]> =>
      defer(() => fromPromise(call(`range ${(fromT - T0) / M}..${toT === undefined ? 'now' : (toT - T0) / M}`, (askedAt) => answer(fromT, toT, askedAt)))),
    latest: (_symbol: string, _interval: string, count: number): Promise<Bar[]> => call(`latest ${count}`, (askedAt) => answer(T0, undefined, askedAt).slice(-count)),
  } as unknown as BinanceRest;

  // --- the engine's series: store, splice, sink (as app.ts wires them) --------------------------
  let store = makeStore();
  store.upsert(id, [truthBar(0)]);
  const published: Published[] = [];
  // The app's sink (persistAndPublish) on whichever store is current (a restart opens a new one).
  const metrics = pipelineMetrics(new Metrics());
  const sink = (ev: SpliceEvent) => {
    const repair = ev.type === 'bar' && ev.origin === 'repair';
    const publishBar = (_id: SeriesId, bar: Bar) => void published.push({ ...bar, repair });
    persistAndPublish({ store, publishBar, barsOut: () => {}, metrics, log: silentLogger })(id, ev);
  };
  let input: Subject<SeriesInput> | undefined;
  let pipeline: Subscription | undefined;
  const errors: unknown[] = [];
  const start = () => {
    input = new Subject<SeriesInput>();
    // seriesPipeline's wiring, with fills not retried on real timers (a failure is a repaired hole).
    pipeline = input
      .pipe(spliceGaps({ interval: id.interval, key: id.key, seed: () => store.window(id).newest(), fetchRange: (a, b) => rest.range$(id.symbol, id.interval, a, b), retryCount: 0, repairAfterMs: 0 }))
      .subscribe({ next: sink, error: (e: unknown) => errors.push(e) });
  };
  start();

  // A restart: the pipeline goes (its fill in flight with it), the store is closed and opened again,
  // bootstrap reloads from it and REST; live bars meanwhile wait, newest per open time (app.ts's early map).
  let early: Map<number, Bar> | undefined;
  const restart = async () => {
    pipeline!.unsubscribe();
    input = undefined;
    early = new Map();
    await store.close();
    store = makeStore();
    await lastValueFrom(bootstrap$([id], { rest, store, bufferSize: BUFFER, concurrency: 1, log: silentLogger, retryDelayMs: 1, now: () => T0 + (emitted === 0 ? 0 : events[emitted - 1]!.bucket) * M + M / 2 }));
    start();
    const waiting = [...early.values()].sort((a, b) => a.openTime - b.openTime);
    early = undefined;
    for (const bar of waiting) input!.next({ type: 'bar', bar });
  };

  // --- the stream: delivers in order, after emission, at scheduled moments ----------------------
  let resyncDue = false;
  let chain = Promise.resolve();
  events.forEach((e, j) => {
    chain = chain.then(async () => {
      await emittedP[j];
      if (j === sc.restartAt) await restart();
      if (outage.has(j)) return void (resyncDue = true);
      if (lost.has(j)) return;
      await s.schedule(Promise.resolve(), `deliver ${j}`);
      if (early) return void early.set(e.bar.openTime, e.bar);
      if (resyncDue) input!.next({ type: 'resync' });
      resyncDue = false;
      input!.next({ type: 'bar', bar: e.bar });
      if (dupes.has(j)) {
        await s.schedule(Promise.resolve(), `deliver ${j} again`);
        input!.next({ type: 'bar', bar: e.bar });
      }
    });
  });
  // Settle: a last reconnect with REST answering, so every hole gets its repair.
  chain = chain.then(async () => {
    await s.schedule(Promise.resolve(), 'reconnect');
    reliable = true;
    input!.next({ type: 'resync' });
  });
  // Store writes complete at scheduled moments too: an event-loop turn lets the write-behind start,
  // flush() waits for it to land (a no-op for the memory store).
  let io = Promise.resolve();
  for (let k = 0; k < sc.ioTurns; k++) {
    io = io
      .then(() => s.schedule(Promise.resolve(), `store writes land ${k}`))
      .then(() => new Promise<void>((r) => setImmediate(r)))
      .then(() => store.flush());
  }
  await s.waitFor(Promise.all([chain, io]));
  for (let i = 0; i < 50 && restInFlight > 0; i++) await s.waitIdle();
  expect(restInFlight).toBe(0);
  expect(errors).toEqual([]);
  pipeline!.unsubscribe();
  return { store, published, n };
}

/** The model's verdict on one run. */
async function checkAgainstTruth(store: BarStore, published: Published[], n: number, id: SeriesId, readPersisted?: () => Promise<Bar[]>) {
  // Clients: in order (but for the holes repaired late, which come when they are), and every closed
  // bar they got is the exchange's, once.
  const inOrder = published.filter((b) => !b.repair);
  for (let i = 1; i < inOrder.length; i++) expect(inOrder[i]!.openTime).toBeGreaterThanOrEqual(inOrder[i - 1]!.openTime);
  const closed = published.filter((b) => b.closed);
  expect(new Set(closed.map((b) => b.openTime)).size).toBe(closed.length);
  for (const { repair: _r, ...b } of closed) expect(b).toEqual(truthBar((b.openTime - T0) / M));
  // The hot window: every closed bar 0..n whole and true, then the forming n+1.
  const want = [...Array.from({ length: n + 1 }, (_, i) => truthBar(i)), formingBar(n + 1, 0)];
  expect(store.window(id).last(BUFFER)).toEqual(want);
  // Redis: the same, once the write-behind has drained.
  if (readPersisted) {
    await store.flush();
    expect(await readPersisted()).toEqual(want);
  }
}

const PARAMS = { numRuns: Number(process.env.RACE_RUNS ?? 200), timeout: 5_000 } as const;

describe('one series under races (fc.scheduler), memory store', () => {
  test.prop([fc.scheduler(), arbScenario], PARAMS)('no interleaving loses, reorders or falsifies a closed bar', async (s, sc) => {
    const id = seriesId('RACEUSDT', '1m');
    // A restart keeps the memory store's windows (a pipeline restart); the store object is the same.
    const mem = createMemoryBarStore({ bufferSize: BUFFER });
    const { store, published, n } = await runScenario(s, sc, () => mem, id);
    await checkAgainstTruth(store, published, n, id);
  }, 300_000);
});

const redisUp = await hasRedis('series races on Redis');

describe.runIf(redisUp)('one series under races (fc.scheduler), Redis store on DB 15', () => {
  const redis = redisUp ? new Redis(REDIS_URL) : undefined;
  const prefix = `test:series-races:${process.pid}:`;
  let run = 0;
  afterAll(async () => {
    const keys = await redis!.keys(`${prefix}*`);
    if (keys.length) await redis!.del(...keys);
    redis!.disconnect();
  });

  const property = async (s: fc.Scheduler, sc: Scenario) => {
    const id = seriesId('RACEUSDT', '1m');
    const keyPrefix = `${prefix}${run++}:`;
    const opened: BarStore[] = [];
    const make = () => {
      const st = createRedisBarStore({ url: REDIS_URL, bufferSize: BUFFER, keyPrefix, log: () => {} });
      opened.push(st);
      return st;
    };
    try {
      const { store, published, n } = await runScenario(s, sc, make, id);
      const key = candlesKey(id, keyPrefix);
      const read = async () => (await redis!.zrange(key, 0, -1)).map((m) => {
        const [openTime, open, high, low, close, volume, closed] = JSON.parse(m) as number[];
        return { openTime: openTime!, open: open!, high: high!, low: low!, close: close!, volume: volume!, closed: closed === 1 };
      });
      await checkAgainstTruth(store, published, n, id, read);
    } finally {
      for (const st of opened) await st.close();
    }
  };

  test.prop([fc.scheduler(), arbScenario], PARAMS)('no interleaving loses, reorders or falsifies a closed bar, in memory or in Redis', property, 300_000);

  // Failing cases this property found, replayed on every run as the scenario and the order in which
  // the scheduler released its tasks (fast-check's counterexample; seeds would not survive a change
  // of the arbitraries).
  // - A fill that failed is remembered only in the pipeline's memory, to be repaired on a later input.
  //   When the engine restarted before the repair landed, bootstrap fetched from the newest stored bar
  //   and the hole, or the bar left forming with partial values (its final lost), stayed in Redis for
  //   good. Fixed: bootstrap re-fetches from the first hole or stale forming bar of the restored history.
  const RECORDED: Array<{ found: string; scenario: Scenario; order: number[] }> = [
    {
      found: 'seed 35591218: bar 1 left forming (final lost, fill failed, repair in flight at the restart)',
      scenario: { updates: [2, 1, 1], lostFinals: [0], outages: [], dupes: [], clockLag: 0, restFails: [true], ioTurns: 3, restartAt: 7 },
      order: [2, 1, 3, 5, 4, 7, 6, 9, 10, 11, 8, 13, 12, 16, 15, 17, 18, 14, 19, 20, 21, 22, 23, 24, 25, 26, 27],
    },
    {
      found: 'a hole at bar 1 (its fill failed, the engine restarted before the repair)',
      scenario: { updates: [0, 0, 0], lostFinals: [0], outages: [], dupes: [], clockLag: 0, restFails: [true], ioTurns: 1, restartAt: 2 },
      order: [1, 3, 2, 5, 6, 7, 4, 8, 9, 10, 11, 12, 13, 14, 15],
    },
  ];
  for (const r of RECORDED) it(`recorded: ${r.found}`, () => property(fc.schedulerFor(r.order), r.scenario), 60_000);
});
