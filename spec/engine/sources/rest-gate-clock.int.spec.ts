import { afterEach, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { BinanceRest } from '../../../engine/src/sources/binance-rest.ts';

describe("the REST weight budget runs on the host's clock, as the exchange counts it", () => {
  let sim: SimExchange | undefined;
  let rest: BinanceRest | undefined;
  afterEach(async () => {
    await rest?.close();
    await sim?.close();
  });

  it('keeps the weight of this real minute while the exchange clock runs 60 times faster (reproduced: rolled every real second, then slept its waits in host ms)', async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], clockSpeed: 60, pushIntervalMs: 1000 });
    rest = new BinanceRest({ baseUrl: sim.restUrl, weightBudget: 1000, concurrency: 2, now: () => sim!.now() });
    // Two real seconds within one real minute (a run that crosses a minute's end is done again).
    for (;;) {
      if (Date.now() % 60_000 > 55_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 100));
      const minute = Math.floor(Date.now() / 60_000);
      for (let i = 0; i < 5; i++) await rest.get('/api/v3/klines', { symbol: 'BTCUSDT', interval: '1m', limit: 10 }, 2);
      const used = rest.gate.weightUsed;
      expect(used).toBeGreaterThanOrEqual(10);
      // Two minutes of the exchange's clock.
      await new Promise((r) => setTimeout(r, 2000));
      if (Math.floor(Date.now() / 60_000) !== minute) continue;
      expect(rest.gate.weightUsed).toBe(used);
      return;
    }
  }, 30_000);
});
