import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient, type WireCandle } from '../../helpers/ws-client.ts';
import { until } from '../../helpers/until.ts';

const M = 60_000;

/** Closed candles equal the simulator's truth, with no hole; only the newest may be forming. */
function expectWholeAndTrue(app: App, symbol: string, interval: string, candles: WireCandle[], step: number) {
  const closed = candles.filter((c) => c.is_closed);
  expect(closed.length).toBeGreaterThan(10);
  for (let i = 1; i < candles.length; i++) expect(candles[i]!.time - candles[i - 1]!.time).toBe(step);
  const truth = app.sim!.truth(symbol, interval, closed[0]!.time, closed[closed.length - 1]!.time);
  expect(closed).toEqual(truth.map((b) => ({ time: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, is_closed: true })));
  for (const c of candles.slice(0, -1)) expect(c.is_closed).toBe(true);
}

describe('series on demand, against the simulated exchange', () => {
  let app: App;
  /** Trading symbols nobody configured, handed out one per test so each starts cold. */
  let cold: string[];
  const ws = (path: string) => new EngineClient(`${app.url.replace('http', 'ws')}${path}`);
  const subscribed = () => app.sim!.subscriptions().flat();
  const firstTypes = (c: EngineClient) => c.messages.slice(0, 2).map((m) => m.type);

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m', '5m', '45m'],
      bufferSize: 300,
      historyOnConnect: 200,
      seriesDir: 'series',
      idleSeriesMs: 1500,
      maxOnDemandSeries: 8,
      catalogRefreshMs: 500,
      // One simulated minute per real second, pushed every 100 ms; a small universe.
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 80 },
    });
    await app.ready;
    const trading = app.sim!.symbols.filter((s) => s !== 'BTCUSDT');
    cold = trading.slice(-30);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('bootstraps a symbol nobody configured: loading, then historical, then live candles, whole and true', async () => {
    const sym = cold.pop()!;
    expect(subscribed()).not.toContain(`${sym.toLowerCase()}@kline_1m`);
    const c = ws(`/ws/${sym}?interval=1m`);
    try {
      await c.until((x) => x.live().filter((m) => m.is_closed).length >= 2, 15_000, 'two live closes');
      expect(firstTypes(c)).toEqual(['loading', 'historical']);
      expect(c.messages[0]).toEqual({ type: 'loading', symbol: sym, interval: '1m' });
      expect(c.historical()!.data).toHaveLength(200);
      expectWholeAndTrue(app, sym, '1m', c.merged(), M);
      await until(() => subscribed().includes(`${sym.toLowerCase()}@kline_1m`), 5000, 'the stream subscribed');
      // The upstream connection was not replaced to add it.
      expect(app.sim!.stats.wsConnectAttempts).toBe(1);
    } finally {
      c.close();
    }
  });

  it('ten clients asking at once share one bootstrap (one REST load)', async () => {
    const sym = cold.pop()!;
    const clients = Array.from({ length: 10 }, () => ws(`/ws/${sym}?interval=5m`));
    try {
      for (const c of clients) await c.until((x) => x.historical() !== undefined, 15_000, 'historical');
      for (const c of clients) expect(firstTypes(c)).toEqual(['loading', 'historical']);
      expect(app.sim!.klinesRequests(sym, '5m')).toBe(1);
      expectWholeAndTrue(app, sym, '5m', clients[0]!.historical()!.data, 5 * M);
      // A late client of the now-live series gets its snapshot at once, without a loading message.
      const late = ws(`/ws/${sym}?interval=5m`);
      await late.until((x) => x.historical() !== undefined, 5000, 'historical');
      expect(late.messages[0]!.type).toBe('historical');
      late.close();
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('unsubscribes an idle series upstream and releases its memory; configured series stay', async () => {
    const sym = cold.pop()!;
    const stream = `${sym.toLowerCase()}@kline_1m`;
    const c = ws(`/ws/${sym}?interval=1m`);
    await c.until((x) => x.live().length >= 1, 15_000, 'live');
    expect(subscribed()).toContain(stream);
    const before = app.store.stats();
    c.close();
    await until(() => !subscribed().includes(stream), 10_000, 'the stream unsubscribed');
    expect(app.lifecycle.isLive({ symbol: sym, interval: '1m', key: `${sym}:1m` })).toBe(false);
    const after = app.store.stats();
    expect(after.series).toBeLessThan(before.series);
    expect(after.bars).toBeLessThanOrEqual(before.bars - 300);
    expect(subscribed()).toContain('btcusdt@kline_1m');
    expect(subscribed()).toContain('btcusdt@kline_5m');
    // Asked for again, it comes back from a fresh bootstrap.
    const again = ws(`/ws/${sym}?interval=1m`);
    await again.until((x) => x.historical() !== undefined, 15_000, 'historical again');
    expect(again.messages[0]!.type).toBe('loading');
    expect(app.sim!.klinesRequests(sym, '1m')).toBe(2);
    again.close();
  });

  it('serves custom intervals and derived series on an on-demand symbol', async () => {
    const sym = cold.pop()!;
    const c = ws(`/ws/${sym}?interval=45m&series=rsi`);
    try {
      await c.until((x) => x.historical() !== undefined, 20_000, 'historical');
      const h = c.historical() as unknown as { data: WireCandle[]; series: Record<string, unknown[]> };
      expectWholeAndTrue(app, sym, '45m', h.data, 45 * M);
      expect(h.series.rsi!.length).toBeGreaterThan(100);
      // 45m is computed from 5m: that stream is followed, hidden (subscribed while REST loaded it).
      await until(() => subscribed().includes(`${sym.toLowerCase()}@kline_5m`), 5000, 'the 5m stream subscribed');
    } finally {
      c.close();
    }
  });

  it('answers GET /candles and /series for a cold symbol after bootstrapping it', async () => {
    const sym = cold.pop()!;
    const res = await request(`${app.url}/candles/${sym}/5m?limit=50`);
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as { candles: WireCandle[] };
    expect(body.candles).toHaveLength(50);
    // One load (later requests may be gap fills once live bars arrive: a 5m bar closes every 5 s here).
    expect(app.sim!.klinesRequests(sym, '5m')).toBe(1);
    expectWholeAndTrue(app, sym, '5m', body.candles, 5 * M);
    const s = await request(`${app.url}/series/rsi/${sym}/5m?limit=20`);
    expect(s.statusCode).toBe(200);
    expect(((await s.body.json()) as { points: unknown[] }).points).toHaveLength(20);
  });

  it('refuses an unknown symbol and a symbol not trading with symbol_not_trading and close 4000', async () => {
    const broken = app.sim!.market.list().find((m) => m.status !== 'TRADING');
    const bad = ['NOPEUSDT', ...(broken ? [broken.symbol] : [])];
    for (const sym of bad) {
      const c = ws(`/ws/${sym}?interval=1m`);
      await c.until((x) => x.closeCode !== undefined, 5000, 'close');
      expect(c.messages).toEqual([expect.objectContaining({ type: 'error', code: 'symbol_not_trading', message: expect.stringMatching(/unknown symbol/) })]);
      expect(c.closeCode).toBe(4000);
    }
    const res = await request(`${app.url}/candles/NOPEUSDT/1m`);
    expect(res.statusCode).toBe(400);
    await res.body.dump();
  });

  it('bounds a flood of random symbols by MAX_ON_DEMAND_SERIES: the rest are refused, nothing unbounded upstream', async () => {
    // Let earlier tests' series go idle first.
    await until(() => app.lifecycle.counts().onDemand === 0, 10_000, 'earlier series released');
    const flood = cold.splice(0, 14);
    const clients = flood.map((s) => ws(`/ws/${s}?interval=1m`));
    try {
      for (const c of clients) await c.until((x) => x.historical() !== undefined || x.closeCode !== undefined, 20_000, 'an answer');
      const served = clients.filter((c) => c.historical());
      const refused = clients.filter((c) => c.closeCode === 4000);
      expect(served).toHaveLength(8);
      expect(refused).toHaveLength(6);
      for (const c of refused) expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'series_capacity' });
      expect(app.lifecycle.counts().onDemand).toBeLessThanOrEqual(8);
      // Configured BTCUSDT (1m, 5m) and the eight served (subscriptions are paced: wait for the last).
      await until(() => subscribed().length === 10, 15_000, 'ten streams subscribed');
      await new Promise((r) => setTimeout(r, 500));
      expect(subscribed()).toHaveLength(10);
      const res = await request(`${app.url}/candles/${cold[0]}/1m`);
      expect(res.statusCode).toBe(503);
      expect(await res.body.json()).toMatchObject({ code: 'series_capacity' });
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('drops a symbol that stops trading: gone from /symbols, its clients told symbol_not_trading and closed', async () => {
    await until(() => app.lifecycle.counts().onDemand === 0, 10_000, 'earlier series released');
    const sym = cold.pop()!;
    const c = ws(`/ws/${sym}?interval=1m`);
    await c.until((x) => x.live().length >= 1, 15_000, 'live');
    app.sim!.market.setStatus(sym, 'BREAK');
    // Seen at a catalog refresh (a REST round trip every 500 ms here), then the clients told: a loaded machine takes longer.
    await c.until((x) => x.closeCode !== undefined, 15_000, 'close');
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'symbol_not_trading' });
    expect(c.closeCode).toBe(4000);
    const listing = (await (await request(`${app.url}/symbols`)).body.json()) as { symbols: string[]; markets: Array<{ symbol: string }> };
    expect(listing.symbols).not.toContain(sym);
    expect(listing.markets.map((m) => m.symbol)).not.toContain(sym);
    await until(() => !subscribed().includes(`${sym.toLowerCase()}@kline_1m`), 15_000, 'the stream unsubscribed');
    // Asked for again, it is refused.
    const again = ws(`/ws/${sym}?interval=1m`);
    await again.until((x) => x.closeCode !== undefined, 5000, 'close');
    expect(again.messages).toEqual([expect.objectContaining({ type: 'error', code: 'symbol_not_trading' })]);
  });
});
