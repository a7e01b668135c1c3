import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { until } from '../../helpers/until.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const M = 60_000;

function expectWholeAndTrue(sim: SimExchange, symbol: string, interval: string, bars: Bar[], step: number) {
  for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime - bars[i - 1]!.openTime).toBe(step);
  const closed = bars.filter((b) => b.closed);
  expect(closed.length).toBeGreaterThan(10);
  expect(closed).toEqual(sim.truth(symbol, interval, closed[0]!.openTime, closed[closed.length - 1]!.openTime));
}

describe('custom intervals and derived series, engine pointed at a standalone simulator by URL', () => {
  let sim: SimExchange;
  let app: App;
  beforeAll(async () => {
    // Five simulated minutes per real second.
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 50, clockSpeed: 300 });
    app = await startTestApp({
      source: 'binance',
      restUrl: sim.restUrl,
      wsUrl: sim.wsUrl,
      symbols: ['BTCUSDT', 'NOPEUSDT', 'ETHUSDT'],
      intervals: ['1m', '5m', '10m', '45m'],
      bufferSize: 300,
      historyOnConnect: 200,
      seriesDir: 'series',
    });
    await app.ready;
    // `ready` is the native bootstrap; readiness (/health) also waits for the custom intervals' history.
    for (let t = Date.now(); Date.now() - t < 20_000; await new Promise((r) => setTimeout(r, 100))) {
      const r = await request(`${app.url}/health`);
      await r.body.dump();
      if (r.statusCode === 200) break;
    }
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  it('reports an invalid symbol by name and serves the rest', async () => {
    const symbols = await (await request(`${app.url}/symbols`)).body.json();
    expect(symbols).toMatchObject({ symbols: ['BTCUSDT', 'ETHUSDT'], configured: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m', '5m', '10m', '45m'], source: 'binance' });
    const health = (await (await request(`${app.url}/health`)).body.json()) as { bootstrap: { rejectedSymbols: string[] } };
    expect(health.bootstrap.rejectedSymbols).toEqual(['NOPEUSDT']);
  });

  it('computes custom intervals that Binance lacks, whole and equal to the exchange aggregate, and keeps them live', async () => {
    const w10 = app.store.window(seriesId('BTCUSDT', '10m'));
    const w45 = app.store.window(seriesId('ETHUSDT', '45m'));
    expect(w10.size).toBe(300);
    expectWholeAndTrue(sim, 'BTCUSDT', '10m', w10.last(1000), 10 * M);
    expectWholeAndTrue(sim, 'ETHUSDT', '45m', w45.last(1000), 45 * M);
    const closedBefore = w10.newestClosed()!.openTime;
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=10m`);
    await c.until((x) => x.live().some((m) => m.is_closed && m.time > closedBefore), 10_000, 'a live 10m close');
    c.close();
    expectWholeAndTrue(sim, 'BTCUSDT', '10m', w10.last(1000), 10 * M);
  });

  it("serves a custom interval's pages older than the store, resampled from its source on the exchange (a chart scrolled back)", async () => {
    // It answered 502 'Invalid interval': the page went to the exchange as 10m klines.
    const oldest = app.store.window(seriesId('BTCUSDT', '10m')).oldest()!;
    const endTime = oldest.openTime + 5 * 10 * M;
    const res = await request(`${app.url}/candles/BTCUSDT/10m?endTime=${endTime}&limit=100`);
    const body = (await res.body.json()) as { candles: Array<{ time: number; open: number; high: number; low: number; close: number; volume: number; is_closed: boolean }> };
    expect(res.statusCode).toBe(200);
    expect(body.candles).toHaveLength(100);
    expect(body.candles.at(-1)!.time).toBe(endTime);
    const bars: Bar[] = body.candles.map((c) => ({ openTime: c.time, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, closed: c.is_closed }));
    expect(bars.every((b) => b.closed)).toBe(true);
    expectWholeAndTrue(sim, 'BTCUSDT', '10m', bars, 10 * M);
  });

  it('heals a custom interval after an outage like a native one', async () => {
    const w = app.store.window(seriesId('BTCUSDT', '10m'));
    const before = w.newestClosed()!.openTime;
    // 1.5 s refused: 7.5 simulated minutes of 1m bars the engine only gets by filling the gap from REST.
    sim.faults.refuseConnections(1500);
    sim.faults.dropConnections();
    await until(() => (w.newestClosed()?.openTime ?? 0) >= before + 3 * 10 * M, 20_000, 'three 10m bars closed after the outage');
    // The bars from the last one closed before the outage on: none missing, each the exchange's aggregate.
    const since = w.last(1000).filter((b) => b.openTime >= before);
    for (let i = 1; i < since.length; i++) expect(since[i]!.openTime - since[i - 1]!.openTime, `after ${since[i - 1]!.openTime}`).toBe(10 * M);
    const closed = since.filter((b) => b.closed);
    expect(closed.length).toBeGreaterThanOrEqual(4);
    expect(closed).toEqual(sim.truth('BTCUSDT', '10m', before, closed.at(-1)!.openTime));
  });

  it('lists derived series and serves their points over HTTP', async () => {
    const list = (await (await request(`${app.url}/series`)).body.json()) as { series: Array<{ name: string }> };
    expect(list.series.map((s) => s.name).sort()).toEqual(['ema-cross', 'rsi', 'session-vwap']);
    const r = await request(`${app.url}/series/rsi/BTCUSDT/1m?limit=5&period=10`);
    expect(r.statusCode).toBe(200);
    const body = (await r.body.json()) as { name: string; points: Array<{ time: number; value: number }> };
    expect(body.name).toBe('rsi:period=10');
    expect(body.points).toHaveLength(5);
    for (const p of body.points) expect(p.value).toBeGreaterThanOrEqual(0);
    const bad = await request(`${app.url}/series/nope/BTCUSDT/1m`);
    expect(bad.statusCode).toBe(400);
    expect(await bad.body.json()).toEqual({ error: expect.stringMatching(/unknown series 'nope'; available series: /) as string, code: 'bad_series' });
  });

  it('gives a point for every candle even at the longest periods the shipped series allow', async () => {
    const { candles } = (await (await request(`${app.url}/candles/BTCUSDT/1m?limit=300`)).body.json()) as { candles: unknown[] };
    expect(candles.length).toBeGreaterThan(250);
    for (const path of ['rsi/BTCUSDT/1m?period=500', 'ema-cross/BTCUSDT/1m?fast=9&slow=1000']) {
      const r = await request(`${app.url}/series/${path}&limit=300`);
      expect(r.statusCode).toBe(200);
      const body = (await r.body.json()) as { points: unknown[] };
      expect(body.points.length, path).toBe(candles.length);
    }
  });

  it('refuses a repeated parameter by name, in a query and in a series spec', async () => {
    for (const path of ['/series/rsi/BTCUSDT/1m?period=14&period=15', '/candles/BTCUSDT/1m?limit=5&limit=6']) {
      const r = await request(`${app.url}${path}`);
      expect(r.statusCode, path).toBe(400);
      expect(((await r.body.json()) as { error: string }).error, path).toMatch(/parameter '(period|limit)' given more than once/);
    }
    for (const query of ['interval=1m&series=rsi&series=ema-cross', 'interval=1m&series=rsi:period=14;period=15']) {
      const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?${query}`);
      await c.until((x) => x.closeCode !== undefined, 5000, 'close');
      expect(c.closeCode, query).toBe(4000);
      expect(c.messages[0], query).toMatchObject({ type: 'error', message: expect.stringMatching(/given more than once/) });
    }
  });

  it('carries requested series in the historical message, aligned to its candles, then streams their live points', async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m&series=rsi,ema-cross:fast=5`);
    await c.until((x) => x.messages.filter((m) => (m as { type: string }).type === 'series_point').length >= 4, 10_000, 'live series points');
    const h = c.historical() as unknown as { data: Array<{ time: number }>; series: Record<string, Array<{ time: number; value?: number; values?: Record<string, number> }>> };
    expect(Object.keys(h.series).sort()).toEqual(['ema-cross:fast=5', 'rsi']);
    const times = new Set(h.data.map((d) => d.time));
    // Values across the whole historical window (after warm-up), each at a candle's time.
    expect(h.series.rsi!.length).toBeGreaterThan(h.data.length - 20);
    for (const p of h.series.rsi!) expect(times.has(p.time)).toBe(true);
    expect(Object.keys(h.series['ema-cross:fast=5']![0]!.values!).sort()).toEqual(['fast', 'signal', 'slow']);
    const names = new Set(c.messages.filter((m) => (m as { type: string }).type === 'series_point').map((m) => (m as unknown as { name: string }).name));
    expect(names).toEqual(new Set(['rsi', 'ema-cross:fast=5']));
    // Two topics followed while the socket is open, by one client or two; none once they close.
    const followed = () => app.metrics.render() && app.metrics.value('engine_series_topics_followed');
    expect(followed()).toBe(2);
    const d = new EngineClient(`${app.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m&series=rsi`);
    await d.until((x) => x.messages.some((m) => (m as { type: string }).type === 'series_point'), 10_000, 'live series point');
    expect(followed()).toBe(2);
    // A close reaches the engine a turn or more later (a loaded machine took longer than a fixed 300 ms):
    // waited for, and what it left followed is then exact.
    c.close();
    await until(() => followed() !== 2, 10_000, 'c\'s close');
    expect(followed()).toBe(1);
    d.close();
    await until(() => followed() !== 1, 10_000, 'd\'s close');
    expect(followed()).toBe(0);
  });

  it('rejects an unknown series or bad parameter on the socket with an error and close 4000', async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m&series=rsi:period=0`);
    await c.until((x) => x.closeCode !== undefined, 5000, 'close');
    expect(c.closeCode).toBe(4000);
    expect((c.messages[0] as { message: string }).message).toMatch(/period/);
  });
});
