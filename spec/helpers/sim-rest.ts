import { afterAll, beforeAll } from 'vitest';
import { BinanceRest } from '../../engine/src/sources/binance-rest.ts';
import { type SimExchange, startSimExchange } from '../../engine/sim/sim-exchange.ts';

/**
 * A simulated exchange over real HTTP and a REST client on its clock, for the whole suite:
 * started in beforeAll, closed in afterAll. Read `sim` and `rest` inside the tests.
 */
export function useSimRest(symbols: string[]): { readonly sim: SimExchange; readonly rest: BinanceRest } {
  const parts = {} as { sim: SimExchange; rest: BinanceRest };
  beforeAll(async () => {
    parts.sim = await startSimExchange({ symbols, pushIntervalMs: 1000 });
    parts.rest = new BinanceRest({ baseUrl: parts.sim.restUrl, weightBudget: 1000, concurrency: 4, now: () => parts.sim.now() });
  });
  afterAll(async () => {
    await parts.rest?.close();
    await parts.sim?.close();
  });
  return parts;
}
