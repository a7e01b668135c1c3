import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../engine/src/metrics.ts';
import { loopDelayGauges } from '../../../engine/src/server/loop-delay.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('loopDelayGauges', () => {
  it('shows a blocked event loop in the next scrape, and only in that one', async () => {
    const metrics = new Metrics();
    const stop = loopDelayGauges(metrics);
    try {
      await sleep(100);
      metrics.render();
      const busyUntil = performance.now() + 150;
      while (performance.now() < busyUntil);
      await sleep(100);
      metrics.render();
      expect(metrics.value('engine_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(0.12);
      expect(metrics.value('engine_event_loop_stalls_total')).toBeGreaterThanOrEqual(1);
      await sleep(200);
      metrics.render();
      // A new period: the stall is not counted again.
      expect(metrics.value('engine_event_loop_delay_max_seconds')).toBeLessThan(0.12);
    } finally {
      stop();
    }
  });
});
