import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../engine/src/metrics.ts';
import { loopDelayGauges } from '../../../engine/src/server/loop-delay.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const max = (metrics: Metrics, window: string) => metrics.value('engine_event_loop_delay_max_seconds', { window });

describe('loopDelayGauges', () => {
  it('shows a blocked event loop for the windows after it, however often anyone scrapes', async () => {
    const metrics = new Metrics();
    const stop = loopDelayGauges(metrics);
    try {
      await sleep(100);
      metrics.render();
      const busyUntil = performance.now() + 150;
      while (performance.now() < busyUntil);
      await sleep(100);
      metrics.render();
      expect(max(metrics, '5s')).toBeGreaterThanOrEqual(0.12);
      expect(max(metrics, '60s')).toBeGreaterThanOrEqual(0.12);
      expect(metrics.value('engine_event_loop_stalls_total')).toBeGreaterThanOrEqual(1);
      // Another client's scrapes, every 50 ms: the operator's next one still sees the stall
      // (a max "since the previous scrape" had been reset by them).
      for (let i = 0; i < 10; i++) {
        await sleep(50);
        metrics.render();
      }
      expect(max(metrics, '5s')).toBeGreaterThanOrEqual(0.12);
      // Past the short window, only the long one holds it.
      await sleep(5500);
      metrics.render();
      expect(max(metrics, '5s')).toBeLessThan(0.12);
      expect(max(metrics, '60s')).toBeGreaterThanOrEqual(0.12);
    } finally {
      stop();
    }
  });
});
