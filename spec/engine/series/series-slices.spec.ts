import { map, type OperatorFunction, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { defineSeries, type SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { SeriesRegistry } from '../../../engine/src/series/series-registry.ts';

const M = 60_000;
const bar = (i: number): Bar => ({ openTime: (1000 + i) * M, open: 1, high: 2, low: 0.5, close: 1 + (i % 7), volume: 1, closed: true });
const id = seriesId('BTCUSDT', '1m');

/**
 * A rig with a fake clock the operator advances (`costOf(bar)` ms per bar): what a slow operator
 * costs is told, not measured, so the slices are tested deterministically. `turn` counts turns of the
 * event loop (a setImmediate each), and `turnOf` records in which one each bar was fed.
 */
function rig(history: Bar[], costOf: (b: Bar) => number) {
  let clock = 0;
  let turn = 0;
  let ticking = true;
  const tick = () => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const turnOf: number[] = [];
  const heavy = defineSeries({
    name: 'heavy',
    pane: 'oscillator',
    params: {},
    warmup: 0,
    operator: (): OperatorFunction<Bar, SeriesPoint> =>
      map((b) => {
        clock += costOf(b);
        turnOf.push(turn);
        return { time: b.openTime, value: b.close, closed: b.closed };
      }),
  });
  const slow: string[] = [];
  const logs: string[] = [];
  const live = new Subject<Bar>();
  const registry = new SeriesRegistry([heavy], {
    bufferSize: 1000,
    log: createLogger('warn', 'test', (line) => logs.push(line)),
    history: () => history,
    bars$: () => live,
    publish: () => {},
    onError: () => {},
    onSlow: (name) => slow.push(name),
    now: () => clock,
  });
  const req = () => {
    const r = registry.parse('heavy', '1m');
    if (!r.ok) throw new Error(r.error);
    return r.value[0]!;
  };
  const stop = () => {
    ticking = false;
    registry.stop();
  };
  /** The most bars fed in one turn. */
  const mostInOneTurn = () => Math.max(...[...turnOf.reduce((m, t) => m.set(t, (m.get(t) ?? 0) + 1), new Map<number, number>()).values()]);
  return { registry, req, turnOf, slow, logs, live, stop, mostInOneTurn };
}

/**
 * A slow operator blocked the whole engine during warm-up (a quant review): slices were a fixed 500
 * bars whatever they cost, so a 2 s-per-bar operator held the event loop 12-22 s, and nothing named
 * the series. A slice now ends once its turn's time is spent (the clock read after each bar), and a
 * bar that takes 100 ms or more is counted (engine_series_slow_total{series}) and logged, by name.
 */
describe('derived-series slices are bounded by time, not by a count of bars', () => {
  it('a range yields after each bar that spends the turn (10 ms a bar: one bar a turn, not 500)', async () => {
    const r = rig(Array.from({ length: 600 }, (_, i) => bar(i)), () => 10);
    try {
      const points = await r.registry.range(r.req(), id, undefined, 600);
      expect(points.length).toBe(600);
      expect(r.turnOf.length).toBe(600);
      expect(r.mostInOneTurn()).toBe(1);
      expect(r.slow).toEqual([]);
    } finally {
      r.stop();
    }
  });

  it('cheap bars still go many to a slice (0.1 ms a bar: the 4 ms turn holds about 40)', async () => {
    const r = rig(Array.from({ length: 600 }, (_, i) => bar(i)), () => 0.1);
    try {
      await r.registry.range(r.req(), id, undefined, 600);
      expect(r.mostInOneTurn()).toBeGreaterThanOrEqual(30);
      expect(r.mostInOneTurn()).toBeLessThanOrEqual(41);
    } finally {
      r.stop();
    }
  });

  it("an instance's warm-up over a short window (once fed whole inside acquire) yields too, and goes live after", async () => {
    const r = rig(Array.from({ length: 100 }, (_, i) => bar(i)), () => 10);
    try {
      const lease = r.registry.acquire(r.req(), id);
      // One bar spent the turn's time: the rest follows in slices, off the request.
      expect(lease.instance.state).toBe('warming');
      await lease.ready;
      expect(lease.instance.state).toBe('live');
      // Going live feeds the newest bar once more (the catch-up with the window), in the last slice's turn.
      expect(r.turnOf.length).toBe(101);
      expect(r.mostInOneTurn()).toBeLessThanOrEqual(2);
      lease.release();
    } finally {
      r.stop();
    }
  });

  it('counts and logs (once per period) a series whose bar takes 100 ms or more, in a warm-up and live', async () => {
    // Every 97th bar takes 2 s (the review's module); the rest 1 ms.
    const r = rig(Array.from({ length: 600 }, (_, i) => bar(i)), (b) => ((b.openTime / M) % 97 === 0 ? 2000 : 1));
    try {
      const lease = r.registry.acquire(r.req(), id);
      await lease.ready;
      expect(r.slow).toEqual(Array.from({ length: 6 }, () => 'heavy'));
      // Each slow bar ended its slice (2 s spent the turn's time).
      expect(r.mostInOneTurn()).toBeLessThanOrEqual(4);
      expect(r.logs.filter((l) => l.includes("derived series 'heavy' is slow"))).toHaveLength(1);
      expect(r.logs[0]).toMatch(/held the event loop 2000 ms/);
      r.live.next({ ...bar(97 * 20 - 1000), closed: true });
      expect(r.slow).toHaveLength(7);
      lease.release();
    } finally {
      r.stop();
    }
  });
});
