import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../../../engine/src/metrics.ts';
import { loopDelayGauges } from '../../../engine/src/server/loop-delay.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const max = (metrics: Metrics, window: string) => metrics.value('engine_event_loop_delay_max_seconds', { window });

describe('loopDelayGauges', () => {
  afterEach(() => vi.useRealTimers());

  it('sees a real blocked event loop (its own clock)', async () => {
    const metrics = new Metrics();
    const stop = loopDelayGauges(metrics);
    try {
      await sleep(100);
      metrics.render();
      const busyUntil = performance.now() + 150;
      while (performance.now() < busyUntil);
      await sleep(100);
      metrics.render();
      // Lower bounds only: a loaded machine adds delay, it cannot take the 150 ms away.
      expect(max(metrics, '5s')).toBeGreaterThanOrEqual(0.12);
      expect(max(metrics, '60s')).toBeGreaterThanOrEqual(0.12);
      expect(metrics.value('engine_event_loop_stalls_total')).toBeGreaterThanOrEqual(1);
    } finally {
      stop();
    }
  });

  it('shows a blocked event loop for the windows after it, however often anyone scrapes', () => {
    // The clock injected and vi's fake timers: the loop is late only when the spec says so (on a
    // loaded machine the real one is late anywhere, and a 5 s window's max was not below 0.12 s).
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const metrics = new Metrics();
    const stop = loopDelayGauges(metrics, () => Date.now());
    try {
      vi.advanceTimersByTime(100);
      metrics.render();
      expect(max(metrics, '5s')).toBe(0);
      // Blocked 150 ms: the clock moves on and no timer runs meanwhile.
      vi.setSystemTime(Date.now() + 150);
      vi.advanceTimersByTime(100);
      metrics.render();
      expect(max(metrics, '5s')).toBeCloseTo(0.15, 6);
      expect(max(metrics, '60s')).toBeCloseTo(0.15, 6);
      expect(metrics.value('engine_event_loop_stalls_total')).toBe(1);
      // Another client's scrapes, every 50 ms: the operator's next one still sees the stall
      // (a max "since the previous scrape" had been reset by them).
      for (let i = 0; i < 10; i++) {
        vi.advanceTimersByTime(50);
        metrics.render();
      }
      expect(max(metrics, '5s')).toBeCloseTo(0.15, 6);
      // Past the short window, only the long one holds it; past the long one, neither.
      vi.advanceTimersByTime(5500);
      metrics.render();
      expect(max(metrics, '5s')).toBe(0);
      expect(max(metrics, '60s')).toBeCloseTo(0.15, 6);
      vi.advanceTimersByTime(55_000);
      metrics.render();
      expect(max(metrics, '60s')).toBe(0);
      expect(metrics.value('engine_event_loop_stalls_total')).toBe(1);
    } finally {
      stop();
    }
  });
});
