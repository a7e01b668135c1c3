import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * Binance's symbol grammar is `^[A-Z0-9-_.]{1,20}$`: a listed symbol with `-`, `_` or `.` was refused
 * everywhere (config, the catalog, a client's request) though the exchange would serve it. A symbol
 * that is a path's `.` or `..` still never is one.
 */
describe("a symbol with Binance's punctuation", () => {
  let sim: SimExchange;
  let app: App;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTC-USD', 'ETH_USD.P'], pushIntervalMs: 100 });
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTC-USD'], intervals: ['1m'], bufferSize: 300 });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  it('is served as configured, and on demand, as any symbol', async () => {
    for (const symbol of ['btc-usd', 'ETH_USD.P']) {
      const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${symbol}?interval=1m`);
      try {
        await client.until((c) => (c.historical()?.data.length ?? 0) > 0 && c.live().length > 0, 20_000, `historical and live candles of ${symbol}`);
        expect(client.historical()!.symbol).toBe(symbol.toUpperCase());
      } finally {
        client.close();
      }
    }
  }, 60_000);

  it("refuses '..' and '-X' as symbols with a JSON error", async () => {
    for (const symbol of ['..', '-BTCUSD', '.BTC']) {
      const res = await fetch(`${app.url}/candles/${encodeURIComponent(symbol)}/1m`);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(((await res.json()) as { error?: string }).error).toBeTruthy();
    }
  });
});
