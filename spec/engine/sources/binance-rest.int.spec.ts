import { lastValueFrom, reduce } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { BinanceRestError } from '../../../engine/src/domain/errors.ts';
import { useSimRest } from '../../helpers/sim-rest.ts';

const M = 60_000;

describe('BinanceRest against the simulated exchange', () => {
  const ex = useSimRest(['BTCUSDT', 'ETHUSDT']);

  it('pages backwards past the 1000-row limit for the newest N bars', async () => {
    const before = ex.sim.stats.restRequests;
    const bars = await ex.rest.latest('BTCUSDT', '1m', 2345);
    expect(ex.sim.stats.restRequests - before).toBe(3);
    expect(bars).toHaveLength(2345);
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime - bars[i - 1]!.openTime).toBe(M);
    expect(bars[bars.length - 1]!.closed).toBe(false);
    const closed = bars.filter((b) => b.closed);
    expect(closed).toEqual(ex.sim.truth('BTCUSDT', '1m', closed[0]!.openTime, closed[closed.length - 1]!.openTime));
  });

  it('pages forwards over a range', async () => {
    const end = Math.floor(ex.sim.now() / M) * M - 10 * M;
    const from = end - 2499 * M;
    const bars = await lastValueFrom(ex.rest.range$('ETHUSDT', '1m', from, end).pipe(reduce((a, p) => a.concat(p), [] as Bar[])));
    expect(bars).toHaveLength(2500);
    expect(bars).toEqual(ex.sim.truth('ETHUSDT', '1m', from, end));
  });

  it('honours Retry-After on 429: every request waits until the pause is over', async () => {
    ex.sim.faults.rateLimit({ status: 429, retryAfterSec: 1, requests: 1 });
    const started = Date.now();
    const [a, b] = await Promise.all([ex.rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 5 }), ex.rest.klines({ symbol: 'ETHUSDT', interval: '1m', limit: 5 })]);
    expect(a).toHaveLength(5);
    expect(b).toHaveLength(5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('retries a 5xx and succeeds', async () => {
    ex.sim.faults.failRest({ status: 500, requests: 2 });
    const bars = await ex.rest.klines({ symbol: 'BTCUSDT', interval: '5m', limit: 3 });
    expect(bars).toHaveLength(3);
  });

  it('reports an unknown symbol as -1121 without retrying', async () => {
    const before = ex.sim.stats.restRequests;
    const err = await ex.rest.klines({ symbol: 'NOPEUSDT', interval: '1m', limit: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BinanceRestError);
    expect((err as BinanceRestError).info).toMatchObject({ status: 400, code: -1121 });
    expect(ex.sim.stats.restRequests - before).toBe(1);
  });

  it('reads the used weight from X-MBX-USED-WEIGHT-1M', async () => {
    await ex.rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 1 });
    expect(ex.rest.gate.weightUsed).toBeGreaterThanOrEqual(2);
    expect(ex.rest.gate.weightUsed).toBeGreaterThanOrEqual(ex.sim.stats.weightUsed - 2);
  });
});
