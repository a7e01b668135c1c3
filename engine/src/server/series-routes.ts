import type HyperExpress from 'hyper-express';
import { HistoryRefusedError } from '../domain/errors.ts';
import { clientAddress } from './client-address.ts';
import { seriesId } from '../domain/series-id.ts';
import { SeriesBusyError, SeriesFailedError } from '../series/series-errors.ts';
import type { SeriesService } from '../series/series-registry.ts';
import { BAD_SERIES } from '../series/series-requests.ts';
import { pointWire } from '../series/series-wire.ts';
import { type Catalog, checkPage, singleQuery } from './request-params.ts';
import type { RouteTable } from './http-edges.ts';
import { sendJson } from './send-json.ts';
import { whenLive } from './when-live.ts';
import { emptyPageBeforeRecording, type RecordingReach } from './before-recording.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';

export interface SeriesRoutesDeps {
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY; '*' = any); absent = the peer is the client. */
  trustProxy?: readonly string[];
  catalog: Catalog;
  series: SeriesService;
  badRequest(): void;
  /** Makes series live on demand (absent: only live series are served). */
  demand?: SeriesDemand;
  /** How long a read waits for a cold series to load (default HTTP_LOAD_WAIT_MS). */
  httpLoadWaitMs?: number;
  /** SOURCE=replay: where the recording starts (a range older than it is answered 404 `before_recording`, as /candles). */
  recording?: RecordingReach;
}

/** Query parameters of GET /series/… that are not the series' own. */
const RESERVED = new Set(['limit', 'endTime']);

/**
 * `GET /series` (definitions, their instances and state) and
 * `GET /series/:name/:symbol/:interval?endTime=&limit=&<param>=…`: points for the bars of a range,
 * warm-up included. Every failure is a JSON error: 400 for a bad request (naming the parameter),
 * 503 for a failed series (with its error), a full queue or candles that could not be had (with
 * Retry-After); an unexpected one goes to the server's route error handler (route-errors.ts).
 */
export function registerSeriesRoutes(server: RouteTable, deps: SeriesRoutesDeps): void {
  const { catalog, series, badRequest } = deps;
  const onLive = whenLive(deps.demand, badRequest, deps.httpLoadWaitMs);

  server.get('/series', (_req, res) => sendJson(res, 200, { series: series.list() }));
  const seriesRange = async (req: HyperExpress.Request, res: HyperExpress.Response) => {
    // Read now: uWS's address is gone once the handler awaits.
    const address = clientAddress(req.ip, req.headers['x-forwarded-for'], deps.trustProxy ?? []);
    try {
      const query = singleQuery(req.query_parameters, req.path_query);
      const q = query.ok ? query.value : {};
      const page = query.ok ? checkPage(catalog, req.path_parameters, q, 10_000) : query;
      if (!page.ok) {
        badRequest();
        return sendJson(res, 400, { error: page.error });
      }
      const { endTime, limit } = page.value;
      const overrides = Object.fromEntries(Object.entries(q).filter(([k]) => !RESERVED.has(k)).map(([k, v]) => [k, v ?? '']));
      const parsed = series.request(req.path_parameters.name ?? '', overrides, page.value.interval);
      if (!parsed.ok) {
        badRequest();
        return sendJson(res, 400, { error: parsed.error, code: BAD_SERIES });
      }
      const id = seriesId(page.value.symbol, page.value.interval);
      const request = parsed.value;
      await onLive(id, address, res, async () => {
        const points = await series.range(request, id, endTime, limit, address);
        if (res.closed) return;
        // As /candles: a replay knows nothing older than its recording, which is no empty market.
        const before = emptyPageBeforeRecording(deps.recording, id, endTime, points.length === 0);
        if (before) return sendJson(res, 404, before);
        sendJson(res, 200, { name: request.label, symbol: id.symbol, interval: id.interval, params: request.params, points: points.map(pointWire) });
      });
    } catch (e) {
      if (res.closed) return;
      if (e instanceof SeriesBusyError) {
        const refused = e.cause instanceof HistoryRefusedError ? e.cause.info : undefined;
        res.header('retry-after', String(refused?.retryAfterSec ?? 1));
        // As /candles: this address asked for too much history (429), or a cap or queue is full (503).
        return sendJson(res, refused?.reason === 'rate' ? 429 : 503, { error: e.message });
      }
      if (e instanceof SeriesFailedError) return sendJson(res, 503, { error: e.message, state: 'failed' });
      // Anything else is a bug: the server's route error handler answers it, logs it once with where
      // it was thrown and counts it in engine_http_errors_total (answered here, it was in no metric).
      throw e;
    }
  };
  server.get('/series/:name/:symbol/:interval', seriesRange, { cost: rangeCost });
}

/** Points a range request counts for in the per-address ration: one per page of 500 (10,000 points of ema-cross took an engine 79 ms of CPU). */
export const POINTS_PER_COST = 500;

/** What a range request counts in the ration: its `limit` in pages of POINTS_PER_COST (a bad limit: 1; the route refuses it). */
function rangeCost(req: HyperExpress.Request): number {
  const limit = Number(req.query_parameters.limit ?? 500);
  return Number.isSafeInteger(limit) && limit > 0 ? Math.ceil(Math.min(limit, 10_000) / POINTS_PER_COST) : 1;
}
