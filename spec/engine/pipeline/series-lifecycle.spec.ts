import { Subject, Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { seriesId, type SeriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import type { BootstrapResult } from '../../../engine/src/pipeline/bootstrap.ts';
import { SeriesCatalog } from '../../../engine/src/pipeline/series-catalog.ts';
import { SeriesLifecycle } from '../../../engine/src/pipeline/series-lifecycle.ts';

const m = (symbol: string) => ({ symbol, base: symbol.replace(/USDT$/, ''), quote: 'USDT' });

/** A lifecycle over fakes that record what it asks of the world; loads finish when the test says. */
function setup(opts: { max?: number; idle?: number; perMinute?: number } = {}) {
  const order: string[] = [];
  const catalog = new SeriesCatalog(['BTCUSDT'], ['1m', '45m'], 'sim', 100);
  catalog.setMarkets(['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT', 'ADAUSDT'].map(m));
  const streams = new Set<string>();
  const loads = new Map<string, Subject<BootstrapResult>>();
  const loadCount = new Map<string, number>();
  const priorities = new Map<string, string>();
  const freed: string[] = [];
  const ended: Array<[string, string]> = [];
  const customs = new Map<string, () => void>();
  const invalid: string[] = [];
  const lc = new SeriesLifecycle({
    catalog,
    upstream: { add: (s) => s.forEach((x) => streams.add(x)), remove: (s) => s.forEach((x) => streams.delete(x)) },
    router: { expect: () => {}, attach: (key) => void order.push(`attach ${key}`), detach: () => {} },
    load: (id, priority) => {
      loadCount.set(id.key, (loadCount.get(id.key) ?? 0) + 1);
      priorities.set(id.key, priority);
      const s = new Subject<BootstrapResult>();
      loads.set(id.key, s);
      return s;
    },
    startNative: () => new Subscription(),
    startCustom: (id, _source, live) => {
      customs.set(id.key, live);
      return new Subscription();
    },
    free: (id) => freed.push(id.key),
    ended: (id, code) => ended.push([id.key, code]),
    invalidSymbol: (s) => invalid.push(s),
    live: (id) => void order.push(`live ${id.key}`),
    idleSeriesMs: opts.idle ?? 1000,
    maxOnDemandSeries: opts.max ?? 10,
    onDemandPerMinute: opts.perMinute,
    concurrency: 2,
    log: silentLogger,
  });
  const finish = (id: SeriesId, outcome: BootstrapResult['outcome'] = 'loaded') => {
    const s = loads.get(id.key)!;
    s.next({ id, outcome, fetched: 10 });
    s.complete();
  };
  return { lc, catalog, streams, loadCount, priorities, freed, ended, customs, invalid, finish, order };
}

describe('SeriesLifecycle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('pins configured series and resolves ready once their native ones are loaded', async () => {
    const t = setup();
    t.lc.pinSymbol('BTCUSDT');
    t.lc.sealStartup();
    let ready = false;
    void t.lc.ready.then(() => (ready = true));
    expect([...t.streams]).toEqual(['btcusdt@kline_1m']);
    t.finish(seriesId('BTCUSDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ready).toBe(true);
    // 45m (from the configured 1m) starts once its source is live.
    expect([...t.customs.keys()]).toEqual(['BTCUSDT:45m']);
    t.lc.stopAll();
  });

  it("drops the wait of a client that left (each was kept until the load ended: a review found them piling up behind a load that never ended)", async () => {
    const t = setup();
    const id = seriesId('ETHUSDT', '1m');
    // One client holds it and waits; others come and go (HTTP reads that time out, sockets that close).
    const held = t.lc.want(id, '10.0.0.1');
    const outcomes: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const left = new AbortController();
      void t.lc.want(id, '10.0.0.2', undefined, undefined, left.signal).then((o) => outcomes.push(o.ok ? 'ok' : 'left'));
      t.lc.release(id);
      left.abort();
    }
    await vi.advanceTimersByTimeAsync(0);
    // Each gone wait is settled at once, not held until the load.
    expect(outcomes).toEqual(Array(1000).fill('left'));
    t.finish(id);
    await vi.advanceTimersByTimeAsync(0);
    expect(await held).toEqual({ ok: true });
    expect(outcomes.filter((o) => o === 'ok')).toEqual([]);
    t.lc.stopAll();
  });

  it('gives a block of addresses (an IPv4 /24, an IPv6 /48) one turn among waited-for loads (reproduced: a turn per address)', async () => {
    const t = setup({ max: 20 });
    const names = ['ETH', 'SOL', 'A1', 'A2', 'A3', 'A4', 'B1', 'B2', 'TRADER'].map((x) => `${x}USDT`);
    t.catalog.setMarkets(['BTCUSDT', ...names].map(m));
    const want = (s: string, address: string) => void t.lc.want(seriesId(s, '1m'), address);
    // Both slots taken; then four addresses of one /24, two /64s of one /48, and a trader elsewhere.
    want('ETHUSDT', '192.0.2.1');
    want('SOLUSDT', '192.0.2.2');
    ['A1USDT', 'A2USDT', 'A3USDT', 'A4USDT'].forEach((s, i) => want(s, `203.0.113.${10 + i}`));
    want('B1USDT', '2001:db8:7:1::');
    want('B2USDT', '2001:db8:7:2::');
    want('TRADERUSDT', '198.51.100.9');
    const started = () => [...t.loadCount.keys()].map((k) => k.replace(/USDT:1m$/, ''));
    expect(started()).toEqual(['ETH', 'SOL']);
    for (const s of ['ETH', 'SOL', 'A1', 'B1', 'TRADER']) {
      t.finish(seriesId(`${s}USDT`, '1m'));
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(started()).toEqual(['ETH', 'SOL', 'A1', 'B1', 'TRADER', 'A2', 'B2']);
    t.lc.stopAll();
  });

  it('loads a series once however many ask, and answers them all when it is live', async () => {
    const t = setup();
    const id = seriesId('ETHUSDT', '1m');
    const answers = Array.from({ length: 10 }, () => t.lc.want(id));
    expect(t.loadCount.get(id.key)).toBe(1);
    expect(t.lc.isLive(id)).toBe(false);
    t.finish(id);
    expect(await Promise.all(answers)).toEqual(Array(10).fill({ ok: true }));
    expect(t.lc.isLive(id)).toBe(true);
    expect(await t.lc.want(id)).toEqual({ ok: true });
    expect(t.loadCount.get(id.key)).toBe(1);
    t.lc.stopAll();
  });

  it("loads a pinned series on the engine's own REST lane and an on-demand one on the start lane; their fills on live and held", () => {
    const t = setup();
    t.lc.pinSymbol('BTCUSDT');
    void t.lc.want(seriesId('ETHUSDT', '1m'), '192.0.2.1');
    expect(Object.fromEntries(t.priorities)).toEqual({ 'BTCUSDT:1m': 'live', 'ETHUSDT:1m': 'start' });
    expect([t.lc.restLane(seriesId('BTCUSDT', '1m')), t.lc.restLane(seriesId('ETHUSDT', '1m'))]).toEqual(['live', 'held']);
    t.lc.stopAll();
  });

  it('loads configured series in slots of their own: on-demand loads waiting for the REST budget hold none of them', async () => {
    // A restart under a flood of clients: their cold series fill every slot of a shared queue and wait for budget.
    const t = setup({ max: 20 });
    for (const s of ['ETHUSDT', 'SOLUSDT', 'XRPUSDT']) void t.lc.want(seriesId(s, '1m'), '192.0.2.1');
    expect([...t.loadCount.keys()]).toEqual(['ETHUSDT:1m', 'SOLUSDT:1m']);
    t.lc.pinSymbol('BTCUSDT');
    t.lc.sealStartup();
    expect(t.loadCount.get('BTCUSDT:1m')).toBe(1);
    expect(t.priorities.get('BTCUSDT:1m')).toBe('live');
    let ready = false;
    void t.lc.ready.then(() => (ready = true));
    t.finish(seriesId('BTCUSDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ready).toBe(true);
    t.lc.stopAll();
  });

  it("keeps a replay's late series like a configured one but out of readiness's progress (reproduced: not ready while one loaded)", () => {
    const t = setup();
    t.lc.pinSymbol('BTCUSDT');
    t.lc.sealStartup();
    t.finish(seriesId('BTCUSDT', '1m'));
    const custom = seriesId('SOLUSDT', '45m');
    t.lc.pinSeries(seriesId('ETHUSDT', '1m'));
    t.lc.pinSeries(custom);
    // Kept for good (configured lane) while it loads, and readiness reads only the configured ones.
    expect(t.lc.restLane(seriesId('ETHUSDT', '1m'))).toBe('live');
    expect(t.lc.restLane(seriesId('SOLUSDT', '1m'))).toBe('live');
    expect(t.lc.pinnedProgress()).toEqual({ native: { live: 1, total: 1 }, custom: { live: 0, total: 1 } });
    // Configured later (a symbol pinned by the catalog): counted from then.
    t.lc.pinSymbol('ETHUSDT');
    expect(t.lc.pinnedProgress().native).toEqual({ live: 1, total: 2 });
    t.lc.stopAll();
  });

  it("does not hold ready for a replay's late series pinned before the configured ones loaded; waits for one once it is configured (reproduced: ready waited for it)", async () => {
    const t = setup();
    let ready = false;
    void t.lc.ready.then(() => (ready = true));
    t.lc.pinSymbol('BTCUSDT');
    t.lc.pinSeries(seriesId('ETHUSDT', '1m'));
    t.lc.pinSeries(seriesId('SOLUSDT', '1m'));
    // SOLUSDT is configured after all (the catalog pins it): ready waits for it from then.
    t.lc.pinSymbol('SOLUSDT');
    t.lc.sealStartup();
    t.finish(seriesId('BTCUSDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ready).toBe(false);
    t.finish(seriesId('SOLUSDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    // ETHUSDT still loading.
    expect(ready).toBe(true);
    expect(t.lc.isLive(seriesId('ETHUSDT', '1m'))).toBe(false);
    t.lc.stopAll();
  });

  it('moves a series pinned while it waits in the on-demand queue to the configured one, loaded once', () => {
    const t = setup({ max: 20 });
    for (const s of ['ETHUSDT', 'SOLUSDT', 'XRPUSDT']) void t.lc.want(seriesId(s, '1m'), '192.0.2.1');
    expect(t.loadCount.has('XRPUSDT:1m')).toBe(false);
    t.lc.pinSymbol('XRPUSDT');
    expect(t.loadCount.get('XRPUSDT:1m')).toBe(1);
    expect(t.priorities.get('XRPUSDT:1m')).toBe('live');
    expect(t.lc.restLane(seriesId('XRPUSDT', '1m'))).toBe('live');
    // A series already loading on demand when pinned finishes where it is, never loaded twice.
    t.lc.pinSymbol('ETHUSDT');
    t.finish(seriesId('SOLUSDT', '1m'));
    expect(t.loadCount.get('ETHUSDT:1m')).toBe(1);
    expect(t.lc.counts().queued).toBe(0);
    t.lc.stopAll();
  });

  it('moves a series a client waits for ahead of the configured backlog when it is pinned', async () => {
    const t = setup({ max: 20 });
    t.catalog.setMarkets(['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT', 'A1USDT', 'A2USDT', 'A3USDT'].map(m));
    for (const s of ['ETHUSDT', 'SOLUSDT', 'XRPUSDT']) void t.lc.want(seriesId(s, '1m'), '192.0.2.1');
    for (const s of ['A1USDT', 'A2USDT', 'A3USDT']) t.lc.pinSymbol(s);
    expect(t.loadCount.has('A3USDT:1m')).toBe(false);
    t.lc.pinSymbol('XRPUSDT');
    t.finish(seriesId('A1USDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.loadCount.get('XRPUSDT:1m')).toBe(1);
    expect(t.loadCount.has('A3USDT:1m')).toBe(false);
    t.lc.stopAll();
  });

  it('says a series is live before the bars that came during its load enter its pipeline', () => {
    // A cluster's leader writes the whole window when told, ahead of those bars: written first, a
    // live bar made edges count the series written and serve one bar (the router's attach feeds them).
    const t = setup();
    const id = seriesId('XRPUSDT', '1m');
    void t.lc.want(id);
    t.finish(id);
    expect(t.order).toEqual(['live XRPUSDT:1m', 'attach XRPUSDT:1m']);
    t.lc.stopAll();
  });

  it('builds an on-demand custom interval on its hidden source, live only once its history is in', async () => {
    const t = setup();
    const id = seriesId('SOLUSDT', '45m');
    let answer: unknown;
    void t.lc.want(id).then((a) => (answer = a));
    expect([...t.streams]).toEqual(['solusdt@kline_1m']);
    t.finish(seriesId('SOLUSDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    expect(answer).toBeUndefined();
    t.customs.get(id.key)!();
    await vi.advanceTimersByTimeAsync(0);
    expect(answer).toEqual({ ok: true });
    expect(t.lc.counts()).toMatchObject({ live: 2, onDemand: 2 });
    t.lc.stopAll();
  });

  it('refuses symbols not trading and unknown intervals, and past MAX_ON_DEMAND_SERIES (a custom one counts its source)', async () => {
    const t = setup({ max: 2 });
    expect(await t.lc.want(seriesId('NOPEUSDT', '1m'))).toMatchObject({ ok: false, code: 'symbol_not_trading' });
    expect(await t.lc.want(seriesId('ETHUSDT', '3m'))).toMatchObject({ ok: false, code: 'unknown_interval' });
    void t.lc.want(seriesId('ETHUSDT', '1m'));
    expect(await t.lc.want(seriesId('XRPUSDT', '45m'))).toMatchObject({ ok: false, code: 'series_capacity' });
    void t.lc.want(seriesId('XRPUSDT', '1m'));
    expect(await t.lc.want(seriesId('ADAUSDT', '1m'))).toMatchObject({ ok: false, code: 'series_capacity' });
    expect(t.streams.size).toBe(2);
    expect(t.loadCount.has('NOPEUSDT:1m')).toBe(false);
    t.lc.stopAll();
  });

  it('with MAX_ON_DEMAND_SERIES=0 serves the configured series alone, says so, and spends no ask of the address on it', async () => {
    const t = setup({ max: 0, perMinute: 2 });
    t.lc.pinSymbol('BTCUSDT');
    for (let i = 0; i < 3; i++) expect(await t.lc.want(seriesId('ETHUSDT', '1m'), '10.0.0.1')).toMatchObject({ ok: false, code: 'series_capacity', message: expect.stringMatching(/only its configured series \(MAX_ON_DEMAND_SERIES=0\)/) });
    const held = t.lc.want(seriesId('BTCUSDT', '1m'), '10.0.0.1');
    t.finish(seriesId('BTCUSDT', '1m'));
    expect(await held).toMatchObject({ ok: true });
    expect([...t.streams]).toEqual(['btcusdt@kline_1m']);
    t.lc.stopAll();
  });

  it('stops an on-demand series nobody held for IDLE_SERIES_MS (custom before its source); configured ones stay', async () => {
    const t = setup({ idle: 1000 });
    t.lc.pinSymbol('BTCUSDT');
    t.finish(seriesId('BTCUSDT', '1m'));
    const id = seriesId('SOLUSDT', '45m');
    const held = t.lc.want(id);
    t.finish(seriesId('SOLUSDT', '1m'));
    await vi.advanceTimersByTimeAsync(0);
    t.customs.get(id.key)!();
    await held;
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.freed).toEqual([]);
    t.lc.release(id);
    await vi.advanceTimersByTimeAsync(900);
    expect(t.freed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.freed).toEqual(['SOLUSDT:45m', 'SOLUSDT:1m']);
    expect([...t.streams]).toEqual(['btcusdt@kline_1m']);
    expect(t.lc.isLive(seriesId('BTCUSDT', '1m'))).toBe(true);
    // A touch (an HTTP read) keeps one alive for another IDLE_SERIES_MS.
    const eth = seriesId('ETHUSDT', '1m');
    const p = t.lc.want(eth);
    t.finish(eth);
    await p;
    t.lc.release(eth);
    await vi.advanceTimersByTimeAsync(800);
    t.lc.touch(eth);
    await vi.advanceTimersByTimeAsync(800);
    expect(t.lc.isLive(eth)).toBe(true);
    await vi.advanceTimersByTimeAsync(800);
    expect(t.lc.isLive(eth)).toBe(false);
    t.lc.stopAll();
  });

  it('ends every series of a symbol that stops trading, telling live clients and waiters why', async () => {
    const t = setup();
    const live = seriesId('ETHUSDT', '1m');
    const p = t.lc.want(live);
    t.finish(live);
    await p;
    const waiting = t.lc.want(seriesId('ETHUSDT', '45m'));
    t.lc.endSymbol('ETHUSDT', 'ETHUSDT stopped trading');
    expect(await waiting).toMatchObject({ ok: false, code: 'symbol_not_trading' });
    expect(t.ended.map(([k]) => k).sort()).toEqual(['ETHUSDT:1m', 'ETHUSDT:45m']);
    expect(t.streams.size).toBe(0);
    t.lc.stopAll();
  });

  it('reports -1121 for a listed symbol: the catalog is told, the waiters refused', async () => {
    const t = setup();
    const id = seriesId('XRPUSDT', '1m');
    const p = t.lc.want(id);
    t.finish(id, 'invalid-symbol');
    expect(await p).toMatchObject({ ok: false, code: 'symbol_not_trading' });
    expect(t.invalid).toEqual(['XRPUSDT']);
    t.lc.stopAll();
  });
});
