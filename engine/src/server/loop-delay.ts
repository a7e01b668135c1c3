import type { Metrics } from '../metrics.ts';

/** How often the event loop is sampled (ms): a stall shorter than this may go unseen. */
const RESOLUTION_MS = 10;
/** A delay counted as a stall (the bar attacker-style probes hold the engine to). */
export const STALL_MS = 100;

/**
 * `engine_event_loop_delay_max_seconds`: the longest the event loop was late running a 10 ms timer
 * since the previous scrape (each scrape starts a new period); `engine_event_loop_stalls_total`:
 * delays of STALL_MS or more. An outside probe's latency mixes the engine's stalls with the host's
 * CPU contention (its own clients among it); these are the engine's own. (node:perf_hooks'
 * monitorEventLoopDelay misses a stall that begins right after its reset, as one at a scrape would.)
 * Returns the stop.
 */
export function loopDelayGauges(metrics: Metrics, now: () => number = () => performance.now()): () => void {
  const maxGauge = metrics.gauge('engine_event_loop_delay_max_seconds', 'Longest the event loop was late (blocked) since the previous scrape, sampled every 10 ms');
  const stalls = metrics.counter('engine_event_loop_stalls_total', `Times the event loop was blocked ${STALL_MS} ms or more (sampled every 10 ms)`);
  let last = now();
  let max = 0;
  const timer = setInterval(() => {
    const t = now();
    const late = Math.max(0, t - last - RESOLUTION_MS);
    last = t;
    if (late > max) max = late;
    if (late >= STALL_MS) stalls();
  }, RESOLUTION_MS);
  timer.unref();
  metrics.onCollect(() => {
    // A stall that just ended, when the scrape runs before the timer does, is counted in this period.
    max = Math.max(max, now() - last - RESOLUTION_MS);
    maxGauge(max / 1000);
    max = 0;
  });
  return () => clearInterval(timer);
}
