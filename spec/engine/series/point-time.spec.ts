import { map, pipe, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { resample } from '../../../engine/src/operators/index.ts';
import { startRun } from '../../../engine/src/series/anchored-runs.ts';
import { defineSeries, type SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { pointTimeProblem } from '../../../engine/src/series/point-check.ts';
import { SeriesFailedError, SeriesRegistry } from '../../../engine/src/series/series-registry.ts';

const M = 60_000;
// 2026-12-05 (a quant review's times): a bar every minute, 120 of them.
const T0 = 1_796_489_820_000;
const bars: Bar[] = Array.from({ length: 120 }, (_, i) => ({ openTime: T0 + i * M, open: 1, high: 2, low: 0.5, close: 1 + (i % 7), volume: 1, closed: true }));

/** A series whose point for each bar is at `timeOf(bar)`. */
const at = (name: string, timeOf: (b: Bar) => number, warmup = 0) =>
  defineSeries({ name, pane: 'oscillator', params: {}, warmup, operator: () => map((b: Bar) => ({ time: timeOf(b), value: b.close, closed: b.closed })) });

function registry(...defs: ReturnType<typeof at>[]) {
  return new SeriesRegistry(defs, { bufferSize: 1000, log: silentLogger, history: () => bars, bars$: () => new Subject<Bar>(), publish: () => {}, onError: () => {} });
}

/**
 * A point whose time is not a bar's open time was accepted silently (a quant review): seconds
 * instead of ms, a day ahead, a bar's close time. GET /series hid such points (it filters by range),
 * a WebSocket client was sent them. The series now fails, saying why.
 */
describe("a derived series' point times", () => {
  it('pointTimeProblem: between the bars fed and on their grid is fine; seconds, later or off the grid are refused, with a hint', () => {
    const first = T0;
    const newest = T0 + 10 * M;
    expect(pointTimeProblem(newest, first, newest, M)).toBeUndefined();
    expect(pointTimeProblem(T0 + 3 * M, first, newest, M)).toBeUndefined();
    // Before the first bar fed, on the grid: a coarser bucket's open (resample), an earlier bar's.
    expect(pointTimeProblem(T0 - 5 * M, first, newest, M)).toBeUndefined();
    expect(pointTimeProblem(newest / 1000, first, newest, M)).toBe("a point's time 1796490420 is not a bar's open time (seconds instead of ms?)");
    expect(pointTimeProblem(newest + 86_400_000, first, newest, M)).toMatch(/not a bar's open time \(later than the newest bar fed, 1796490420000\)/);
    expect(pointTimeProblem(newest + M - 1, first, newest, M)).toMatch(/not a bar's open time \(a bar's close time\?/);
    expect(pointTimeProblem(T0 + 30_000, first, newest, M)).toMatch(/off the grid of the bars, which open every 60000 ms/);
    // Months vary in length: bounds only.
    expect(pointTimeProblem(T0 + 30_000, first, newest)).toBeUndefined();
    expect(pointTimeProblem(newest + 1, first, newest)).toMatch(/later than the newest bar fed/);
  });

  it('fails a series emitting seconds, a day ahead or close times, naming why; the current bar, an earlier one or a bucket open are fine', async () => {
    const reg = registry(
      at('seconds', (b) => b.openTime / 1000),
      at('future', (b) => b.openTime + 86_400_000),
      at('offgrid', (b) => b.openTime + M - 1),
      at('anchored-seconds', (b) => b.openTime / 1000, 30),
      at('fine', (b) => b.openTime),
      at('backwards', (b) => b.openTime - 10 * M),
    );
    const id = seriesId('BTCUSDT', '1m');
    const range = (name: string) => {
      const req = reg.parse(name, '1m');
      if (!req.ok) throw new Error(req.error);
      return reg.range(req.value[0]!, id, undefined, 100);
    };
    try {
      await expect(range('seconds')).rejects.toThrow(new SeriesFailedError("a point's time 1796491020 is not a bar's open time (seconds instead of ms?)"));
      await expect(range('future')).rejects.toThrow(/is not a bar's open time \(later than the newest bar fed/);
      await expect(range('offgrid')).rejects.toThrow(/is not a bar's open time \(a bar's close time\?/);
      await expect(range('anchored-seconds')).rejects.toThrow(/seconds instead of ms\?/);
      expect((await range('fine')).length).toBe(100);
      expect((await range('backwards')).length).toBeGreaterThan(0);
      // A live instance fails too (its clients are told, with the reason).
      const req = reg.parse('offgrid', '1m');
      if (!req.ok) throw new Error(req.error);
      const lease = reg.acquire(req.value[0]!, id);
      await lease.ready;
      expect([lease.instance.state, lease.instance.error]).toEqual(['failed', expect.stringMatching(/a bar's close time\?/)]);
      lease.release();
    } finally {
      reg.stop();
    }
  });

  it('a resampled series (points at a coarser bucket open, before the first bar fed) runs', () => {
    const points: SeriesPoint[] = [];
    const errors: unknown[] = [];
    const op = pipe(
      resample('15m', { sourceInterval: '1m' }),
      map((b: Bar) => ({ time: b.openTime, value: b.close, closed: b.closed })),
    );
    const run = startRun(op, (p) => points.push(p), (e) => errors.push(e), M);
    // T0 is 12 minutes into its quarter hour: the first bucket opens before the first bar fed.
    for (const b of bars.slice(0, 40)) run.next(b);
    run.stop();
    expect(errors).toEqual([]);
    expect(points[0]!.time).toBe(T0 - 12 * M);
  });
});
