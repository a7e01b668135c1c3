import { describe, expect, it } from 'vitest';
import { type CostStep, costAtCommonRate } from '../../bench/lib/common-rate-cost.ts';

const step = (rate: number, ok: boolean, deliveredPerS: number, server: number, companions = 0): CostStep => ({ rate, ok, window: { deliveredPerS, cpu: { server, companions } } });

describe('bench: CPU per delivered message at the highest rate two ramps both kept up with', () => {
  it('compares the highest rate both kept up with, counting every process of each system', () => {
    const all = [step(100, true, 100_000, 0.3), step(200, true, 200_000, 0.5), step(400, false, 350_000, 0.7)];
    const edge = [step(100, true, 100_000, 0.2, 0.1), step(202, true, 202_000, 0.4, 0.2), step(283, false, 250_000, 0.5, 0.3)];
    const c = costAtCommonRate(all, edge)!;
    expect(c.rate).toBe(202);
    expect(c.aUs).toBeCloseTo(2.5); // 0.5 of a core / 200,000 msg/s
    expect(c.bUs).toBeCloseTo((0.6 * 1e6) / 202_000);
  });

  it('skips a rate one side did not keep up with, and answers undefined when none is shared', () => {
    const all = [step(100, true, 100_000, 0.3), step(200, false, 150_000, 0.5)];
    const edge = [step(100, true, 100_000, 0.2, 0.2), step(200, true, 200_000, 0.4, 0.2)];
    expect(costAtCommonRate(all, edge)!.rate).toBe(100);
    expect(costAtCommonRate([step(100, false, 1, 1)], edge)).toBeUndefined();
    expect(costAtCommonRate(all, [step(150, true, 150_000, 0.3)])).toBeUndefined();
  });
});
