import { lastValueFrom, map, of, pipe, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { ema } from '../../../engine/src/operators/ema.ts';
import { resample } from '../../../engine/src/operators/resample.ts';
import { AnchoredRuns, anchoredFeedStart, anchoredRuns } from '../../../engine/src/series/anchored-runs.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';

const M = 60_000;
/** A deterministic wandering close. */
const bars = (from: number, to: number): Bar[] => {
  const out: Bar[] = [];
  for (let i = from; i < to; i++) {
    const close = 100 + 10 * Math.sin(i / 7) + 3 * Math.cos(i / 3.1) + (i % 5);
    out.push({ openTime: i * M, open: close, high: close + 1, low: close - 1, close, volume: 1, closed: true });
  }
  return out;
};
const run = (input: Bar[], op: () => ReturnType<typeof ema>, blockMs: number, inputFrom?: number) =>
  lastValueFrom(of(...input).pipe(anchoredRuns(op as () => never, blockMs, inputFrom), toArray())) as Promise<SeriesPoint[]>;
const byTime = (ps: SeriesPoint[]) => new Map(ps.map((p) => [p.time, p.value]));

describe('anchoredRuns', () => {
  const build = () => ema({ period: 10 });
  const block = 50 * M;

  it('gives identical values at a time whenever the input started (a series requested at two moments)', async () => {
    // A series started at bar 0 and one started at bar 137: the same values wherever both have one.
    const early = byTime(await run(bars(0, 600), build, block));
    const late = byTime(await run(bars(137, 600), build, block));
    expect(late.size).toBeGreaterThan(300);
    for (const [t, v] of late) expect(early.get(t)).toBe(v);
    // Without the anchors, the same two starts give different values (the defect reproduced).
    const plainEarly = byTime(await run(bars(0, 600), build, 0));
    const plainLate = byTime(await run(bars(137, 600), build, 0));
    expect([...plainLate].some(([t, v]) => plainEarly.get(t) !== v)).toBe(true);
  });

  it('emits only whole blocks: from the block after the one the input starts in', async () => {
    const out = await run(bars(137, 600), build, block);
    expect(out[0]!.time).toBe(200 * M);
    // Fed from the start of the block before, the first wanted block is whole.
    const from = 250 * M;
    const start = anchoredFeedStart(from, block);
    expect(start).toBe(200 * M);
    const fed = await run(bars(start / M, 600), build, block);
    expect(fed[0]!.time).toBe(250 * M);
  });

  it('equals a long continuous run with enough warm-up (150 to 300 bars of EMA(10))', async () => {
    const anchored = byTime(await run(bars(0, 1000), build, 150 * M));
    expect(anchored.size).toBe(850);
    const continuous = await lastValueFrom(of(...bars(0, 1000)).pipe(build(), toArray()));
    for (const p of continuous.filter((q) => q.time >= 150 * M)) expect(anchored.get(p.time)).toBeCloseTo(p.value, 6);
  });

  it('previews forming bars from the emitting run; errors pass through', async () => {
    const input = [...bars(0, 120), { ...bars(120, 121)[0]!, closed: false, close: 500 }];
    const out = await run(input, build, block);
    const last = out[out.length - 1]!;
    expect([last.time, last.closed]).toEqual([120 * M, false]);
    const boom = () => map((b: Bar): SeriesPoint => {
      if (b.openTime === 70 * M) throw new Error('boom');
      return { time: b.openTime, value: b.close, closed: true };
    });
    await expect(run(bars(0, 100), boom as never, block)).rejects.toThrow('boom');
  });

  it("fails alone when the operator's builder throws at a block's rotation: its own error, nothing thrown to the feed (a quant review: the process exited)", () => {
    for (const throwsAt of [1, 2, 3, 4]) {
      let builds = 0;
      const build = () => {
        if (++builds === throwsAt) throw new Error('builder refused');
        return map((b: Bar): SeriesPoint => ({ time: b.openTime, value: b.close, closed: b.closed }));
      };
      const errors: string[] = [];
      const points: SeriesPoint[] = [];
      const runs = new AnchoredRuns(build, 5 * M, 0, (p) => points.push(p), (e) => errors.push((e as Error).message), M);
      for (const bar of bars(0, 30)) expect(() => runs.next(bar)).not.toThrow();
      expect(errors, `builder throwing at build ${throwsAt}`).toEqual(['builder refused']);
      expect(runs.closed).toBe(true);
      // Nothing was built after the failure, and nothing emitted past it.
      expect(builds).toBe(throwsAt);
      const failedAt = (throwsAt - 1) * 5 * M;
      expect(points.every((p) => p.time < failedAt)).toBe(true);
    }
  });

  it('gives every resampled bucket its closed point, the one straddling a block boundary too, whenever the input started (a quant review: 45 m buckets, 1,000-bar blocks)', async () => {
    // 45 m buckets of 1 m bars, as the points of an identity series; the blocks (1,000 bars) are no multiple of 45.
    const build = () => pipe(resample('45m', { sourceInterval: '1m' }), map((b: Bar): SeriesPoint => ({ time: b.openTime, value: b.close, closed: b.closed })));
    // Each bar first forming (twice), then closed, as the live feed brings it.
    const live = (from: number, to: number) => bars(from, to).flatMap((b) => [{ ...b, closed: false, close: b.close + 1 }, { ...b, closed: false }, b]);
    const closedAt = (ps: SeriesPoint[]) => new Map(ps.filter((p) => p.closed).map((p) => [p.time / M, p.value]));
    const early = closedAt(await run(live(0, 3200), build as never, 1000 * M));
    const late = closedAt(await run(live(700, 3200), build as never, 1000 * M));
    // Every bucket from the first whole block (block 1, from 1000) on has its closed point: 1980 straddles 2000, 2970 straddles 3000.
    const buckets = (from: number) => Array.from({ length: Math.floor((3150 - from) / 45) + 1 }, (_, k) => from + 45 * k).filter((t) => t + 45 <= 3200);
    for (const t of buckets(1035)) expect(early.has(t), `bucket ${t}`).toBe(true);
    expect(early.has(1980) && early.has(2970)).toBe(true);
    // Whenever the input started: the same value at every time both have.
    for (const [t, v] of late) expect(early.get(t), `bucket ${t}`).toBe(v);
    for (const t of buckets(2025)) expect(late.has(t), `late bucket ${t}`).toBe(true);
  });

  it("feeds the block's draining run no correction older than its boundary: nothing fails or is re-emitted for an earlier block (a diff review: more than 64 points for one bar)", () => {
    const mk = (i: number, closed = true, d = 0): Bar => ({ ...bars(i, i + 1)[0]!, closed, close: bars(i, i + 1)[0]!.close + d });
    for (const late of [5, 60]) {
      const errors: unknown[] = [];
      const points: SeriesPoint[] = [];
      const runs = new AnchoredRuns(() => ema({ period: 5 }) as never, 50 * M, undefined, (p) => points.push(p), (e) => errors.push(e), M);
      for (let i = 0; i < 150; i++) runs.next(mk(i));
      runs.next(mk(150, false)); // block 3 opens: the run of block 2 drains
      const before = points.length;
      runs.next(mk(late, true, 30)); // a late repaired bar
      expect(errors, `correction at ${late}`).toEqual([]);
      expect(points.slice(before).filter((p) => p.time < 150 * M && p.time >= 100 * M), `correction at ${late}`).toEqual([]);
    }
  });

  it('closes the last bucket of a block followed by a block without bars (an exchange outage)', async () => {
    const build = () => pipe(resample('45m', { sourceInterval: '1m' }), map((b: Bar): SeriesPoint => ({ time: b.openTime, value: b.close, closed: b.closed })));
    // Blocks of 50 bars; bars 0–129, then 200–299: block 3 (150–199) is empty. Bucket 90 opened in block 1 and closes with bar 200.
    const input = [...bars(0, 130), ...bars(200, 300)];
    const out = await run(input, build as never, 50 * M);
    const at90 = out.filter((p) => p.time === 90 * M);
    expect(at90.at(-1)?.closed).toBe(true);
  });
});

