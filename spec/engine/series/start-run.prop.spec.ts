import { fc, test } from '@fast-check/vitest';
import { from, lastValueFrom, type OperatorFunction, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { ema, formingAware, macd, rsi, sma, vwap } from '../../../engine/src/operators/index.ts';
import { anchoredRuns, MAX_POINTS_PER_BAR, startRun } from '../../../engine/src/series/anchored-runs.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { arbBarLife, arbOhlcv, toBar } from '../operators/bar-arbitraries.ts';

const M = 60_000;
type Op = OperatorFunction<Bar, SeriesPoint>;

/** Live-like input: each bar's forming updates then its final; sometimes a late correction of an older bar. */
const arbInput = fc
  .tuple(fc.array(arbBarLife, { minLength: 1, maxLength: 120 }), fc.array(fc.tuple(fc.nat(), arbOhlcv), { maxLength: 5 }))
  .map(([lives, corrections]) => {
    const out: Bar[] = [];
    lives.forEach((life, i) => {
      for (const f of life.formings) out.push(toBar(i * M, f, false));
      out.push(toBar(i * M, life.final, true));
      const c = corrections.find(([at]) => at % lives.length === i);
      // At most MAX_POINTS_PER_BAR / 2 bars back: a correction re-emits the points of every bar from
      // it on, and startRun fails a run that emits more than MAX_POINTS_PER_BAR for one bar (by design).
      if (c && i > 0) out.push(toBar((i - 1 - (c[0] % Math.min(i, MAX_POINTS_PER_BAR / 2))) * M, c[1], true));
    });
    return out;
  });

const ops: Record<string, () => Op> = {
  sma: () => sma({ period: 5 }),
  ema: () => ema({ period: 4 }),
  rsi: () => rsi({ period: 3 }),
  macd: () => macd({ fastPeriod: 3, slowPeriod: 6, signalPeriod: 2 }) as unknown as Op,
  vwap: () => vwap({ anchor: '1h' }),
};

const viaRx = (bars: Bar[], op: Op) => lastValueFrom(from(bars).pipe(op, toArray()));
const viaCalls = (bars: Bar[], op: Op) => {
  const out: SeriesPoint[] = [];
  const run = startRun(op, (p) => out.push(p), (e) => {
    throw e;
  });
  for (const b of bars) run.next(b);
  run.stop();
  return out;
};
/** The same operator with the plain-call path out of reach (a wrapper function is not built by `emitting`). */
const subscribed = (op: () => Op) => (): Op => (source) => source.pipe(op());

describe('startRun (the derived-series live path)', () => {
  test.prop([arbInput], { numRuns: 150 })('an indicator driven by plain calls emits exactly what its subscribed operator emits (previews, closes, corrections)', async (bars) => {
    for (const make of Object.values(ops)) expect(viaCalls(bars, make())).toEqual(await viaRx(bars, make()));
  });

  test.prop([arbInput, fc.integer({ min: 1, max: 20 })], { numRuns: 100 })('anchored runs give the same points through plain calls as through subscriptions', async (bars, blockBars) => {
    for (const make of Object.values(ops)) {
      const direct = await viaRx(bars, anchoredRuns(make, blockBars * M));
      expect(direct).toEqual(await viaRx(bars, anchoredRuns(subscribed(make), blockBars * M)));
    }
  });

  it("an operator's error stops the run and is reported once, as the subscribed path reports it", async () => {
    const boom = () =>
      formingAware<number, number, SeriesPoint>(
        {
          initial: 0,
          step: (s, bar) => {
            if (bar.openTime === 3 * M) throw new Error('boom at 3');
            return [s + 1, s];
          },
        },
        { operator: 'boom', point: (time, value, closed) => ({ time, value, closed }) },
      );
    const bars = Array.from({ length: 6 }, (_, i) => ({ openTime: i * M, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: true }));
    const points: SeriesPoint[] = [];
    const errors: unknown[] = [];
    const run = startRun(boom(), (p) => points.push(p), (e) => errors.push(e));
    for (const b of bars) run.next(b);
    expect(points.map((p) => p.time)).toEqual([0, M, 2 * M]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('boom at 3');
    await expect(viaRx(bars, boom())).rejects.toThrow('boom at 3');
  });
});
