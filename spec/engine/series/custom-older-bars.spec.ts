import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOpen } from '../../../engine/src/domain/interval.ts';
import { customOlderBars } from '../../../engine/src/series/custom-older-bars.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';

const M = 60_000;

describe('customOlderBars (warm-up and ranges of a custom interval, from its source on the exchange)', () => {
  let sim: SimExchange;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'] });
  });
  afterAll(() => sim.close());

  it('builds whole closed buckets equal to the exchange aggregate, up to the one holding endTime, paging the source', async () => {
    const endTime = bucketOpen(Date.UTC(2025, 5, 1, 12, 7), '10m') + 3 * M;
    const calls: number[] = [];
    const fetch = (end: number, limit: number) => {
      calls.push(limit);
      const from = bucketOpen(end, '5m') - (limit - 1) * 5 * M;
      return Promise.resolve(sim.truth('BTCUSDT', '5m', from, bucketOpen(end, '5m')));
    };
    const bars = await customOlderBars(fetch, '10m', '5m', endTime, 700);
    expect(bars).toHaveLength(700);
    expect(bars.at(-1)!.openTime).toBe(bucketOpen(endTime, '10m'));
    expect(bars).toEqual(sim.truth('BTCUSDT', '10m', bars[0]!.openTime, bars.at(-1)!.openTime));
    expect(calls).toEqual([1000, 402]);
  });
});
