/**
 * CLOCK_MONOTONIC in microseconds. `process.hrtime` reads the same system-wide clock in every process
 * on the machine, so a send time taken in the upstream process and a receive time taken in a load
 * worker can be subtracted directly (Date.now() has only 1 ms resolution; performance.now() is per process).
 */
export function monoUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
