import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOpen } from '../../../engine/src/domain/interval.ts';
import { BinanceRest } from '../../../engine/src/sources/binance-rest.ts';
import { ExchangeClock } from '../../../engine/src/sources/exchange-clock.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';

/**
 * Issue 14 part 1 at the source: which REST row is still forming is the exchange's call. Against an
 * exchange three days behind the host, the host's clock took the forming row for a closed one.
 */
describe('REST closedness by the exchange clock', () => {
  let sim: SimExchange;
  beforeAll(async () => {
    // Half way through an hour: the forming 1h bucket cannot roll over during the test.
    sim = await startSimExchange({ symbols: ['BTCUSDT'], clockStart: bucketOpen(Date.now() - 3 * 86_400_000, '1h') + 30 * 60_000, clockSpeed: 1, pushIntervalMs: 1000 });
  });
  afterAll(async () => {
    await sim.close();
  });

  const newestRow = async (now: () => number) => {
    const rest = new BinanceRest({ baseUrl: sim.restUrl, weightBudget: 1000, concurrency: 1, now });
    try {
      return { clock: await rest.serverTime(), bars: await rest.klines({ symbol: 'BTCUSDT', interval: '1h', limit: 3 }) };
    } finally {
      await rest.close();
    }
  };

  it("takes the forming row for a closed one by the host's clock (the defect)", async () => {
    const { bars } = await newestRow(Date.now);
    expect(bars.at(-1)!.openTime).toBe(bucketOpen(sim.now(), '1h'));
    expect(bars.at(-1)!.closed).toBe(true);
  });

  it("keeps the forming row forming by the exchange's clock, and the rows before it closed", async () => {
    const clock = new ExchangeClock();
    const rest = new BinanceRest({ baseUrl: sim.restUrl, weightBudget: 1000, concurrency: 1 });
    await clock.sync(() => rest.serverTime());
    await rest.close();
    // A lower bound: never ahead of the exchange, and within a loopback round trip of it.
    const exchange = sim.now();
    expect(clock.now()).toBeLessThanOrEqual(exchange);
    expect(clock.now()).toBeGreaterThan(exchange - 1000);
    const { bars } = await newestRow(clock.now);
    expect(bars.map((b) => b.closed)).toEqual([true, true, false]);
    expect(bars.at(-1)!.openTime).toBe(bucketOpen(sim.now(), '1h'));
  });
});
