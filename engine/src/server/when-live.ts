import type HyperExpress from 'hyper-express';
import type { SeriesId } from '../domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../pipeline/series-demand.ts';
import { sendJson } from './send-json.ts';

/** How long an HTTP read waits for a cold series to load before it is answered 503 (the load goes on). */
export const HTTP_LOAD_WAIT_MS = 30_000;

/**
 * Runs `read` on a live series: one that is not live is bootstrapped first (the request waits, as a
 * WebSocket client would) and counts as watched now. Refusals answer 400 (not trading), 429 (the
 * address starts cold series too fast) or 503 (full, or a cluster with no leader). A load that takes
 * longer than `waitMs` is answered 503 `loading` with Retry-After and let go of: the series goes on
 * loading for whoever asks next, held by nobody, so the capacity cap may take it back. Requests waiting
 * minutes (while on-demand series caught up after a reconnect within their REST share) each held a
 * loading series, and together filled MAX_ON_DEMAND_SERIES: a newcomer was refused (an attacker-style probe).
 * Shared by the candle and derived-series routes.
 */
export function whenLive(demand: SeriesDemand | undefined, badRequest: () => void, waitMs = HTTP_LOAD_WAIT_MS) {
  return async (id: SeriesId, address: string, res: HyperExpress.Response, read: () => Promise<void> | void): Promise<void> => {
    if (!demand) return read();
    if (demand.isLive(id)) {
      // Held while it reads (a live series' ask settles at once): freed meanwhile (the LRU at the cap,
      // the symbol delisted), its read made a window nobody tracked, and in Redis a key that never
      // expired (a review).
      void demand.want(id, address);
      try {
        return await read();
      } finally {
        demand.release(id);
      }
    }
    // A client that goes away lets go at once: its wait held the series (and a place under
    // MAX_ON_DEMAND_SERIES) for up to `waitMs` after it left.
    const left = new AbortController();
    const outcome = await within(demand.want(id, address, undefined, undefined, left.signal), waitMs, (gone) => res.once('abort', gone));
    if (outcome === GONE || !outcome) {
      // Its wait goes too, not only its hold (it stayed until the load ended).
      demand.release(id);
      left.abort();
    }
    if (outcome === GONE) return;
    if (!outcome) {
      if (res.closed) return;
      res.header('retry-after', '5');
      sendJson(res, 503, { error: `${id.symbol} ${id.interval} is still loading; try again shortly`, code: 'loading' });
      return;
    }
    if (!outcome.ok) {
      const busy = outcome.code === 'series_capacity' || outcome.code === 'rate_limited' || outcome.code === 'no_leader';
      if (!busy) badRequest();
      if (res.closed) return;
      if (outcome.retryAfterSec) res.header('retry-after', String(outcome.retryAfterSec));
      sendJson(res, outcome.code === 'rate_limited' ? 429 : busy ? 503 : 400, { error: outcome.message, code: outcome.code });
      return;
    }
    try {
      await read();
    } finally {
      demand.release(id);
    }
  };
}

const GONE = 'gone';

/**
 * The ask's outcome, undefined when it takes longer than `ms`, or GONE when `onGone` reports the client
 * left first (the hold is the caller's to let go of in both). A failed ask fails this as before (a route
 * error, not a 503: cluster/answer-within.ts turns a failure into its fallback, which here would let go
 * of a hold never taken); one failing after the wait is given up is ignored, never an unhandled rejection.
 */
function within(asked: Promise<DemandOutcome>, ms: number, onGone: (gone: () => void) => void): Promise<DemandOutcome | undefined | typeof GONE> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    onGone(() => {
      clearTimeout(timer);
      resolve(GONE);
    });
    asked.then(
      (o) => {
        clearTimeout(timer);
        resolve(o);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
