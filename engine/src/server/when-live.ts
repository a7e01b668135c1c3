import type HyperExpress from 'hyper-express';
import type { SeriesId } from '../domain/series-id.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';
import { sendJson } from './send-json.ts';

/**
 * Runs `read` on a live series: one that is not live is bootstrapped first (the request waits, as a
 * WebSocket client would) and counts as watched now. Refusals answer 400 (not trading) or 503 (full).
 * Shared by the candle and the derived-series routes.
 */
export function whenLive(demand: SeriesDemand | undefined, badRequest: () => void) {
  return async (id: SeriesId, res: HyperExpress.Response, read: () => Promise<void> | void): Promise<void> => {
    if (!demand || demand.isLive(id)) {
      demand?.touch(id);
      return read();
    }
    const outcome = await demand.want(id);
    if (!outcome.ok) {
      if (outcome.code !== 'series_capacity') badRequest();
      if (!res.closed) sendJson(res, outcome.code === 'series_capacity' ? 503 : 400, { error: outcome.message, code: outcome.code });
      return;
    }
    try {
      await read();
    } finally {
      demand.release(id);
    }
  };
}
