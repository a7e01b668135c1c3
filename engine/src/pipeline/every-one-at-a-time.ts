/**
 * Runs `run` every `everyMs`, one at a time: a tick while the last run is still pending is skipped, and
 * each run is aborted after `everyMs`. A periodic call that waits (a REST gate held by a ban of up to
 * 3 days) otherwise queued one a period, all sent at once when it lifted. Returns the stop.
 */
export function everyOneAtATime(run: (signal: AbortSignal) => Promise<unknown>, everyMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    run(AbortSignal.timeout(everyMs))
      .catch(() => undefined)
      .finally(() => (running = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
