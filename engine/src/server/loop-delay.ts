import type { Metrics } from '../metrics.ts';

/** How often the event loop is sampled (ms): a stall shorter than this may go unseen. */
const RESOLUTION_MS = 10;
/** A delay counted as a stall (the bar attacker-style probes hold the engine to). */
export const STALL_MS = 100;
/** The windows the longest delay is shown over (s): a short one for probes, one longer than any scrape interval. */
export const DELAY_WINDOWS_S = [5, 60] as const;

/**
 * `engine_event_loop_delay_max_seconds{window="5s"|"60s"}`: the longest the event loop was late
 * running a 10 ms timer in the last 5 s and 60 s; `engine_event_loop_stalls_total`: delays of STALL_MS
 * or more. An outside probe's latency mixes the engine's stalls with the host's CPU contention (its own
 * clients among it); these are the engine's own. The windows are the clock's, not the scrapes': a max
 * "since the previous scrape" was reset by anyone's scrape, and a client scraping every 50 ms hid
 * 100 ms stalls from the operator's (an attacker-style probe). (node:perf_hooks'
 * monitorEventLoopDelay misses a stall that begins right after its reset.) Returns the stop.
 */
export function loopDelayGauges(metrics: Metrics, now: () => number = () => performance.now()): () => void {
  const maxGauge = metrics.gauge('engine_event_loop_delay_max_seconds', 'Longest the event loop was late (blocked) in the last `window` seconds, sampled every 10 ms');
  const stalls = metrics.counter('engine_event_loop_stalls_total', `Times the event loop was blocked ${STALL_MS} ms or more (sampled every 10 ms)`);
  const longest = Math.max(...DELAY_WINDOWS_S);
  // The longest delay seen in each second of the last `longest`, by second.
  const secondMax = new Float64Array(longest);
  const secondOf = new Float64Array(longest).fill(-1);
  const note = (late: number, t: number) => {
    const s = Math.floor(t / 1000);
    const i = s % longest;
    if (secondOf[i] !== s) {
      secondOf[i] = s;
      secondMax[i] = 0;
    }
    if (late > secondMax[i]!) secondMax[i] = late;
  };
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    const late = Math.max(0, t - last - RESOLUTION_MS);
    last = t;
    note(late, t);
    if (late >= STALL_MS) stalls();
  }, RESOLUTION_MS);
  timer.unref();
  metrics.onCollect(() => {
    const t = now();
    // A stall that just ended, when the scrape runs before the timer does, counts now.
    note(Math.max(0, t - last - RESOLUTION_MS), t);
    const s = Math.floor(t / 1000);
    for (const w of DELAY_WINDOWS_S) {
      let max = 0;
      for (let i = 0; i < longest; i++) if (secondOf[i]! > s - w && secondMax[i]! > max) max = secondMax[i]!;
      maxGauge(max / 1000, { window: `${w}s` });
    }
  });
  return () => clearInterval(timer);
}
