import type HyperExpress from 'hyper-express';
import type { SeriesId } from '../domain/series-id.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';
import { sendJson } from './send-json.ts';

/**
 * Runs `read` on a live series: one that is not live is bootstrapped first (the request waits, as a
 * WebSocket client would) and counts as watched now. Refusals answer 400 (not trading), 429 (the
 * address starts cold series too fast) or 503 (full, or a cluster with no leader). Shared by the candle and derived-series routes.
 */
export function whenLive(demand: SeriesDemand | undefined, badRequest: () => void) {
  return async (id: SeriesId, address: string, res: HyperExpress.Response, read: () => Promise<void> | void): Promise<void> => {
    if (!demand || demand.isLive(id)) {
      demand?.touch(id);
      return read();
    }
    const outcome = await demand.want(id, address);
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
