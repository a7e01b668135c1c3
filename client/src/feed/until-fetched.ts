/**
 * Runs `load` until it succeeds, waiting 2 s, then twice as long each time up to a minute, between
 * failures; `stop` ends it (a page left). The picker's markets and the derived series' catalog were
 * fetched once: one failure at page load left the picker empty, and overlay series in panes of their
 * own, all day (a review).
 */
export function untilFetched<T>(load: () => Promise<T>, done: (value: T) => void, opts: { firstMs?: number; maxMs?: number } = {}): { stop(): void } {
  const { firstMs = 2000, maxMs = 60_000 } = opts;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const attempt = (waitMs: number) => {
    load().then(
      (value) => {
        if (!stopped) done(value);
      },
      () => {
        if (!stopped) timer = setTimeout(() => attempt(Math.min(maxMs, waitMs * 2)), waitMs);
      },
    );
  };
  attempt(firstMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
