import { readFileSync } from 'node:fs';
import type { Metrics } from '../metrics.ts';

/** The main thread's scheduler figures: time on a CPU and time runnable but waiting for one (ns). */
export interface Schedstat {
  cpuNs: number;
  waitNs: number;
}

/** Parses Linux's `/proc/<pid>/schedstat` (`on-cpu-ns wait-ns timeslices`); undefined when it is not that. */
export function parseSchedstat(text: string): Schedstat | undefined {
  const m = /^(\d+) (\d+) \d+\s*$/.exec(text);
  return m ? { cpuNs: Number(m[1]), waitNs: Number(m[2]) } : undefined;
}

const readOwn = () => readFileSync('/proc/self/schedstat', 'utf8');

/**
 * `engine_main_thread_runqueue_wait_seconds_total` and `engine_main_thread_cpu_seconds_total`: how long
 * the event loop's thread was runnable but waiting for a CPU, and how long it ran. A stall in
 * `engine_event_loop_delay_max_seconds` with the wait growing as fast is the host's contention (other
 * processes, the engine's own load generators on a small box), not the engine's work: helpers' probes
 * had to read this by hand to tell the two apart. (`/proc/self/schedstat` is the thread-group leader's,
 * the thread JavaScript runs on; `process_cpu_seconds` sums every thread, libuv's pool and the GC's.)
 * Linux only: elsewhere, or without schedstats, the metrics are not declared. Returns whether they are.
 */
export function runQueueWaitCounters(metrics: Metrics, read: () => string = readOwn): boolean {
  const first = readSafely(read);
  if (!first) return false;
  const wait = metrics.counter('engine_main_thread_runqueue_wait_seconds_total', 'Time the event loop thread was runnable but waiting for a CPU (host contention), from /proc/self/schedstat');
  const cpu = metrics.counter('engine_main_thread_cpu_seconds_total', 'Time the event loop thread ran on a CPU, from /proc/self/schedstat');
  // Counters from the process's start: the first reading is added whole.
  let last: Schedstat = { cpuNs: 0, waitNs: 0 };
  const advance = (now: Schedstat) => {
    // Never backwards (a counter): a reading lower than the last one adds nothing.
    wait(Math.max(0, now.waitNs - last.waitNs) / 1e9);
    cpu(Math.max(0, now.cpuNs - last.cpuNs) / 1e9);
    last = { cpuNs: Math.max(last.cpuNs, now.cpuNs), waitNs: Math.max(last.waitNs, now.waitNs) };
  };
  advance(first);
  metrics.onCollect(() => {
    const now = readSafely(read);
    if (now) advance(now);
  });
  return true;
}

function readSafely(read: () => string): Schedstat | undefined {
  try {
    return parseSchedstat(read());
  } catch {
    return undefined;
  }
}
