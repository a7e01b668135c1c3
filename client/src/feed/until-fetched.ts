/**
 * Runs `load` until it succeeds, waiting 2 s, then twice as long each time up to a minute, between
 * failures; `stop` ends it (a page left). The picker's markets and the derived series' catalog were
 * fetched once: one failure at page load left the picker empty, and overlay series in panes of their
 * own, all day (a review). With `refreshMs`, it loads again that long (± a quarter, so that a crowd of
 * pages opened together spreads out) after each success: a chart open all day never saw a symbol
 * listed after it loaded (a review: the engine listed 120 markets, the page its first 50).
 */
export function untilFetched<T>(load: () => Promise<T>, done: (value: T) => void, opts: { firstMs?: number; maxMs?: number; refreshMs?: number } = {}): { stop(): void } {
  const { firstMs = 2000, maxMs = 60_000, refreshMs } = opts;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const attempt = (waitMs: number) => {
    load().then(
      (value) => {
        if (stopped) return;
        done(value);
        if (refreshMs !== undefined) timer = setTimeout(() => attempt(firstMs), refreshMs * (0.75 + Math.random() / 2));
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
