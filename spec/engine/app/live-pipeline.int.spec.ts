import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { EngineClient, type WireCandle } from '../../helpers/ws-client.ts';

const M = 60_000;
const toWire = (b: Bar): WireCandle => ({ time: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, is_closed: b.closed });

/** Closed bars equal the simulator's truth and the series has no hole. */
function expectWholeAndTrue(app: App, symbol: string, interval: string, candles: WireCandle[], step: number) {
  const closed = candles.filter((c) => c.is_closed);
  expect(closed.length).toBeGreaterThan(0);
  for (let i = 1; i < candles.length; i++) expect(candles[i]!.time - candles[i - 1]!.time).toBe(step);
  const truth = app.sim!.truth(symbol, interval, closed[0]!.time, closed[closed.length - 1]!.time).map(toWire);
  expect(closed).toEqual(truth);
  // Only the newest candle may still be forming.
  for (const c of candles.slice(0, -1)) expect(c.is_closed).toBe(true);
}

const windowWire = (app: App, symbol: string, interval: string) => app.store.window(seriesId(symbol, interval)).last(1_000_000).map(toWire);

async function getJson(app: App, path: string): Promise<{ status: number; body: any }> {
  const res = await request(`${app.url}${path}`);
  return { status: res.statusCode, body: await res.body.json() };
}

describe('engine on the simulated exchange (memory store)', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT', 'ETHUSDT'],
      intervals: ['1m', '5m'],
      bufferSize: 2500,
      historyOnConnect: 720,
      staleAfterMs: 5000,
      // One simulated minute per real second, pushed every 50 ms.
      simOptions: { pushIntervalMs: 50, clockSpeed: 60 },
    });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('bootstraps BUFFER_SIZE candles past the 1000-row page limit, contiguous and true', () => {
    const bars = windowWire(app, 'BTCUSDT', '1m');
    expect(bars.length).toBeGreaterThanOrEqual(2500);
    expectWholeAndTrue(app, 'BTCUSDT', '1m', bars, M);
    expectWholeAndTrue(app, 'ETHUSDT', '5m', windowWire(app, 'ETHUSDT', '5m'), 5 * M);
  });

  it('streams historical then live candles with no gap and no duplicate at the seam, to clients connecting mid-stream', async () => {
    const clients: EngineClient[] = [];
    for (let i = 0; i < 12; i++) {
      clients.push(new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`));
      await new Promise((r) => setTimeout(r, 37)); // spread connects across pushes
    }
    try {
      // Each client sees at least two candles close live.
      for (const c of clients) await c.until((x) => x.live().filter((m) => m.is_closed).length >= 2, 15_000, 'two live closes');
      for (const c of clients) {
        const h = c.historical()!;
        expect(h.symbol).toBe('BTCUSDT');
        expect(h.interval).toBe('1m');
        expect(h.data).toHaveLength(720);
        const last = h.data[h.data.length - 1]!;
        const first = c.live()[0]!;
        // The first live update is newer than the snapshot's last candle or a new value of it — never a copy.
        expect(first.time).toBeGreaterThanOrEqual(last.time);
        const { type: _t, symbol: _s, interval: _i, epoch: _e, offset: _o, ...firstCandle } = first;
        expect(firstCandle).not.toEqual(last);
        expectWholeAndTrue(app, 'BTCUSDT', '1m', c.merged(), M);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('answers /symbols, /candles, /health and /metrics', async () => {
    const symbols = await getJson(app, '/symbols');
    // The simulator's whole universe trades; the configured symbols are kept live.
    expect(symbols.status).toBe(200);
    expect(symbols.body).toMatchObject({ configured: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m', '5m'], source: 'sim' });
    expect(symbols.body.symbols.length).toBeGreaterThanOrEqual(1000);
    expect(symbols.body.markets).toContainEqual({ symbol: 'ETHUSDT', base: 'ETH', quote: 'USDT' });
    expect(symbols.body.markets).toHaveLength(symbols.body.symbols.length);
    const candles = await getJson(app, '/candles/btcusdt/5m?limit=10');
    expect(candles.status).toBe(200);
    expect(candles.body.symbol).toBe('BTCUSDT');
    expect(candles.body.candles).toHaveLength(10);
    expect(Object.keys(candles.body.candles[0]).sort()).toEqual(['close', 'high', 'is_closed', 'low', 'open', 'time', 'volume']);
    const health = await getJson(app, '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', source: 'sim', upstream: { connected: true }, store: { kind: 'memory', reachable: true }, bootstrap: { done: true, total: 4 } });
    expect(health.body.upstream.lastFrameAgeMs).toBeLessThan(5000);
    const metrics = await request(`${app.url}/metrics`);
    const text = await metrics.body.text();
    for (const name of ['engine_upstream_frames_total', 'engine_candles_written_total', 'engine_gaps_detected_total', 'engine_gaps_filled_total', 'engine_rest_weight_used', 'engine_clients_connected', 'engine_ws_messages_sent_total', 'engine_ws_slow_clients_dropped_total']) {
      expect(text).toContain(`# TYPE ${name}`);
    }
    expect(app.metrics.value('engine_upstream_frames_total')).toBeGreaterThan(0);
    // Memory per series: the hot windows' bars and column bytes (45 per slot, at least one slot per bar).
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const stats = app.store.stats();
    expect(stats.series).toBeGreaterThanOrEqual(4);
    expect(gauge('engine_store_series')).toBe(stats.series);
    expect(gauge('engine_store_bars')).toBeGreaterThan(0);
    expect(gauge('engine_store_bytes')).toBeGreaterThanOrEqual(45 * gauge('engine_store_bars'));
    expect(text).toContain('# TYPE engine_snapshot_cache_bytes gauge');
  });

  it('serves older pages beyond the store from the exchange, without storing them', async () => {
    const oldest = app.store.window(seriesId('BTCUSDT', '1m')).oldest()!;
    const sizeBefore = app.store.window(seriesId('BTCUSDT', '1m')).size;
    const endTime = oldest.openTime + 9 * M;
    const page = await getJson(app, `/candles/BTCUSDT/1m?endTime=${endTime}&limit=1000`);
    expect(page.status).toBe(200);
    const got: WireCandle[] = page.body.candles;
    expect(got).toHaveLength(1000);
    expect(got[got.length - 1]!.time).toBe(endTime);
    expectWholeAndTrue(app, 'BTCUSDT', '1m', got, M);
    expect(app.store.window(seriesId('BTCUSDT', '1m')).size).toBeLessThanOrEqual(Math.max(sizeBefore, 2500));
  });

  it.each([
    ['/candles/NOPE/1m', /unknown symbol 'NOPE'; not a trading symbol/],
    ['/candles/BTCUSDT/7m', /unknown interval '7m'; valid intervals: 1m, 5m/],
    ['/candles/BTCUSDT/1m?limit=0', /invalid limit '0'/],
    ['/candles/BTCUSDT/1m?limit=5000', /invalid limit '5000'/],
    ['/candles/BTCUSDT/1m?limit=abc', /invalid limit 'abc'/],
    ['/candles/BTCUSDT/1m?endTime=yesterday', /invalid endTime/],
    ['/candles/BTCUSDT/1m?endTime=8640000000000001', /invalid endTime '8640000000000001': expected epoch milliseconds/],
    // Not folded into BTCUSDT by upper-casing (a long s).
    ['/candles/btcu%C5%BFdt/1m', /unknown symbol 'btcu\\u017fdt'/],
  ])('GET %s → 400 with a JSON error', async (path, re) => {
    const r = await getJson(app, path);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(re);
  });

  it.each([
    ['/ws/NOPE', /unknown symbol 'NOPE'; not a trading symbol/],
    ['/ws/BTCUSDT?interval=2h', /unknown interval '2h'; valid intervals: 1m, 5m/],
    // Refused, not ignored: it served 1m.
    ['/ws/BTCUSDT?intervals=5m', /unknown parameter 'intervals' \(this route takes interval, series, epoch, since\)/],
    ['/ws/btcu%C5%BFdt', /unknown symbol 'btcu\\u017fdt'/],
  ])('WS %s → error message, then close 4000', async (path, re) => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}${path}`);
    await c.until((x) => x.closeCode !== undefined, 5000, 'close');
    expect(c.messages).toHaveLength(1);
    expect(c.messages[0]).toMatchObject({ type: 'error' });
    expect((c.messages[0] as { message: string }).message).toMatch(re);
    expect(c.closeCode).toBe(4000);
  });

  it('reads a percent-encoded symbol or interval in the path as the client meant it', async () => {
    const r = await getJson(app, '/candles/BTC%55SDT/5m?limit=2');
    expect(r.status).toBe(200);
    expect(r.body.symbol).toBe('BTCUSDT');
    expect(r.body.candles).toHaveLength(2);
    // The interval segment alike (was 400 unknown interval '%35m': an attacker-style probe).
    const i = await getJson(app, '/candles/BTCUSDT/%35m?limit=2');
    expect(i.status).toBe(200);
    expect(i.body).toMatchObject({ symbol: 'BTCUSDT', interval: '5m' });
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTC%55SDT?interval=5m`);
    await c.until((x) => x.messages.length > 0, 5000, 'first message');
    expect(c.messages[0]).toMatchObject({ type: 'historical', symbol: 'BTCUSDT', interval: '5m' });
    c.close();
  });

    it('counts and skips malformed upstream frames without losing the stream', async () => {
    const before = app.metrics.value('engine_upstream_malformed_frames_total');
    const frames = app.metrics.value('engine_upstream_frames_total');
    app.sim!.faults.sendMalformed(5);
    const deadline = Date.now() + 5000;
    while (app.metrics.value('engine_upstream_malformed_frames_total') < before + 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(app.metrics.value('engine_upstream_malformed_frames_total')).toBeGreaterThanOrEqual(before + 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(app.metrics.value('engine_upstream_frames_total')).toBeGreaterThan(frames + 5);
    expectWholeAndTrue(app, 'ETHUSDT', '1m', windowWire(app, 'ETHUSDT', '1m'), M);
  });

  it('heals an outage: the candle forming at the drop is finalised from REST and the gap is filled', async () => {
    const watcher = new EngineClient(`${app.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m`);
    await watcher.until((x) => x.live().length > 0, 5000, 'live');
    const id = seriesId('ETHUSDT', '1m');
    const formingAtDrop = app.store.window(id).newest()!;
    const filledBefore = app.metrics.value('engine_gaps_filled_total');
    // Three simulated minutes offline: the forming candle closes and two more open and close.
    app.sim!.faults.refuseConnections(3000);
    app.sim!.faults.dropConnections();
    const status = () => watcher.messages.filter((m) => m.type === 'status').map((m) => (m as { upstream: string }).upstream);
    await watcher.until(() => status().includes('reconnecting'), 5000, 'reconnecting status');
    await watcher.until(() => status().lastIndexOf('live') > status().indexOf('reconnecting'), 20_000, 'live again');
    await watcher.until((x) => x.live().filter((m) => m.is_closed && m.time > formingAtDrop.openTime + 3 * M).length > 0, 10_000, 'a close after the outage');
    try {
      const bars = windowWire(app, 'ETHUSDT', '1m');
      expectWholeAndTrue(app, 'ETHUSDT', '1m', bars, M);
      const healed = bars.find((b) => b.time === formingAtDrop.openTime)!;
      expect(healed.is_closed).toBe(true);
      expect(app.metrics.value('engine_gaps_filled_total')).toBeGreaterThan(filledBefore);
      // The browser's view is whole too: the fill reached it as live candles, in order.
      expectWholeAndTrue(app, 'ETHUSDT', '1m', watcher.merged(), M);
    } finally {
      watcher.close();
    }
  });

  it('finalises candles whose final update never came', async () => {
    app.sim!.faults.omitFinals(2);
    const id = seriesId('BTCUSDT', '1m');
    const filled = app.metrics.value('engine_gap_bars_filled_total');
    const start = app.store.window(id).newest()!.openTime;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (app.store.window(id).newestClosed()?.openTime ?? 0) <= start + 3 * M) await new Promise((r) => setTimeout(r, 100));
    expect(app.store.window(id).newestClosed()!.openTime).toBeGreaterThan(start + 3 * M);
    // Finals were withheld for two closes of every stream: those bars came from REST.
    expect(app.metrics.value('engine_gap_bars_filled_total')).toBeGreaterThanOrEqual(filled + 2);
    expectWholeAndTrue(app, 'BTCUSDT', '1m', windowWire(app, 'BTCUSDT', '1m'), M);
    expectWholeAndTrue(app, 'ETHUSDT', '5m', windowWire(app, 'ETHUSDT', '5m'), 5 * M);
  });
});
