import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * The gap fills and resyncs of what the engine keeps go before the bootstraps of on-demand series a
 * flood asked for (RestGate's `start` lane): a flood of cold series from many addresses, each within
 * its own ration, took the whole REST budget, and a resync after an upstream reconnect then waited for
 * the next minute (an attacker-style probe). Real clock: the budget is per exchange minute.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// exchangeInfo (20) and BTCUSDT's bootstrap (2) at start; on-demand series may use half of 100.
const BUDGET = 100;

describe('REST budget: gap fills before a flood of on-demand bootstraps', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions: { universeSize: 200, pushIntervalMs: 250 }, symbols: ['BTCUSDT'], intervals: ['1s'], restWeightBudget: BUDGET, onDemandPerMinute: 1_000_000, maxOnDemandSeries: 500, bufferSize: 100 });
    await app.ready;
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it("resyncs a kept series at once after a reconnect while 100 cold series wait for the budget", async () => {
    const sim = app.sim!;
    // Enough of this exchange minute left that a resync waiting for the next one is seen waiting.
    while (new Date(sim.now()).getUTCSeconds() > 35) await sleep(500);
    const cold = sim.symbols.filter((s) => s !== 'BTCUSDT').slice(0, 100);
    const asks = new AbortController();
    // Each read starts a series and waits for it: fired, not awaited (most wait past the test).
    for (const s of cold) void fetch(`${app.url}/candles/${s}/1s?limit=5`, { signal: asks.signal }).catch(() => undefined);
    try {
      // The flood has spent what it may of the budget.
      await sleep(1500);
      const loadedBefore = cold.filter((s) => sim.klinesRequests(s, '1s') > 0).length;
      expect(loadedBefore).toBeGreaterThan(0);
      expect(loadedBefore).toBeLessThan(cold.length);
      // A 1s series: a second closes while the connection is down, so the reconnect must fetch (a resync
      // of a series whose bar still forms is skipped).
      const resyncs = sim.klinesRequests('BTCUSDT', '1s');
      const dropped = Date.now();
      sim.faults.dropConnections();
      while (sim.klinesRequests('BTCUSDT', '1s') === resyncs && Date.now() - dropped < 30_000) await sleep(50);
      const waited = Date.now() - dropped;
      // Reconnect and resync in a few seconds (the reconnect's backoff), not at the next minute.
      expect(sim.klinesRequests('BTCUSDT', '1s')).toBeGreaterThan(resyncs);
      expect(waited).toBeLessThan(8000);
      // The flood still waits (its share is spent): it did not go first.
      expect(cold.filter((s) => sim.klinesRequests(s, '1s') > 0).length).toBe(loadedBefore);
      // Operators see the flood waiting in its lane.
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(Number(/^engine_rest_waiting\{lane="start"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      expect(metrics).toMatch(/^engine_rest_waiting\{lane="live"\} 0$/m);
    } finally {
      asks.abort();
    }
  }, 90_000);
});
