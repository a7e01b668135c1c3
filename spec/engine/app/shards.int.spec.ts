import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { until } from '../../helpers/until.ts';

describe('upstream shards with a small STREAMS_PER_CONNECTION, against the simulator enforcing Binance limits', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT', 'ETHUSDT'],
      intervals: ['1m', '5m'],
      bufferSize: 100,
      historyOnConnect: 50,
      seriesDir: '',
      streamsPerConnection: 3,
      idleSeriesMs: 1000,
      // The simulator's own limits at Binance's values (5 incoming/s incl. pongs, close on more), pings
      // every second (Binance: every 20 s) so pongs share every second with the subscriptions, and the
      // stream-count limit set to the engine's so a shard over it would be cut off.
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 60, pingIntervalMs: 1000, maxStreamsPerConnection: 3 },
    });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('spreads on-demand streams over several shards, none over the limit, none cut off for its message rate', async () => {
    const cold = app.sim!.symbols.filter((s) => s !== 'BTCUSDT' && s !== 'ETHUSDT').slice(-9);
    const seen: number[] = [];
    const clients = cold.flatMap((s) => [new EngineClient(`${app.url.replace('http', 'ws')}/ws/${s}?interval=1m`), new EngineClient(`${app.url.replace('http', 'ws')}/ws/${s}?interval=5m`)]);
    const sample = setInterval(() => seen.push(...app.sim!.subscriptions().map((c) => c.length)), 20);
    try {
      for (const c of clients) await c.until((x) => x.live().length >= 1, 20_000, 'live');
      // 4 configured + 18 on demand = 22 streams: at least 8 connections of at most 3.
      await until(() => app.sim!.subscriptions().flat().length === 22, 10_000, 'every stream subscribed');
      const conns = app.sim!.subscriptions();
      expect(conns.length).toBeGreaterThanOrEqual(8);
      expect(Math.max(...seen)).toBeLessThanOrEqual(3);
      expect(new Set(conns.flat()).size).toBe(22);
      expect(app.shards.stats().every((s) => s.streams <= 3 && s.connected)).toBe(true);
      // Several seconds of pings answered and subscriptions sent: nobody cut off, nothing reconnected.
      await new Promise((r) => setTimeout(r, 2000));
      expect(app.sim!.stats.limitCloses).toBe(0);
      expect(app.sim!.stats.refusedConnections).toBe(0);
      expect(app.metrics.value('engine_upstream_reconnects_total')).toBe(0);
    } finally {
      clearInterval(sample);
      for (const c of clients) c.close();
    }
    // Idle: unsubscribed, and shards left empty are closed after a grace; the configured ones stay.
    await until(() => app.sim!.subscriptions().flat().length === 4, 15_000, 'on-demand streams released');
    expect(app.sim!.subscriptions().flat().sort()).toEqual(['btcusdt@kline_1m', 'btcusdt@kline_5m', 'ethusdt@kline_1m', 'ethusdt@kline_5m']);
    // Closed once their grace (IDLE_SERIES_MS here, 1 s) is over.
    await until(() => app.shards.stats().length <= 2, 10_000, 'empty shards closed');
    expect(app.sim!.stats.limitCloses).toBe(0);
  });

  it('re-subscribes every stream of a shard after the exchange drops it', async () => {
    const before = app.sim!.stats.wsConnectAttempts;
    app.sim!.faults.dropConnections();
    await until(() => app.sim!.stats.wsConnectAttempts > before && app.sim!.subscriptions().flat().length === 4, 15_000, 'reconnected and re-subscribed');
    expect(app.sim!.subscriptions().every((c) => c.length <= 3)).toBe(true);
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m`);
    const n0 = Date.now();
    await c.until((x) => x.live().some((m) => m.time > 0) && Date.now() - n0 > 0, 10_000, 'live after the drop');
    c.close();
  });
});
