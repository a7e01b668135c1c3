import type HyperExpress from 'hyper-express';
import { clientAddress } from './client-address.ts';
import type { Bar } from '../domain/bar.ts';
import { seriesId } from '../domain/series-id.ts';
import { toWire } from '../domain/wire.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import { echo } from '../domain/echo.ts';
import type { Logger } from '../log.ts';
import { createLogDedup } from '../log-dedup.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import { emptyPageBeforeRecording, type RecordingReach } from './before-recording.ts';
import type { RouteTable } from './http-edges.ts';
import { type Catalog, checkPage, singleQuery } from './request-params.ts';
import { sendJson } from './send-json.ts';
import { whenLive } from './when-live.ts';
import type { SymbolsListing } from '../pipeline/series-catalog.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';

export interface HttpRoutesDeps {
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY; '*' = any); absent = the peer is the client. */
  trustProxy?: readonly string[];
  catalog: Catalog & { source(): string; listing(): SymbolsListing };
  store: BarStore;
  metrics: Metrics;
  log: Logger;
  /** Counts requests refused for a bad symbol, interval or parameter (shared with the WS route). */
  badRequest(): void;
  health(): Record<string, unknown> & { status: string };
  /** Older bars than the store holds, from the exchange (not stored); bounded per client `address`. */
  olderBars(symbol: string, interval: string, endTime: number, limit: number, address: string): Promise<Bar[]>;
  /** Makes series live on demand (absent: only live series are served). */
  demand?: SeriesDemand;
  /** SOURCE=replay: where the recording starts (a page older than it is answered 404 `before_recording`). */
  recording?: RecordingReach;
  /** How long a read waits for a cold series to load (default HTTP_LOAD_WAIT_MS). */
  httpLoadWaitMs?: number;
}

/** The JSON API: `/symbols`, `/health` (= `/readyz`), `/livez`, `/metrics`, `/candles/…` (`/series…`: series-routes.ts). */
export function registerHttpRoutes(server: RouteTable, deps: HttpRoutesDeps): void {
  const { catalog, store, metrics, log, badRequest, demand } = deps;
  const onLive = whenLive(demand, badRequest, deps.httpLoadWaitMs);
  // One line per kind of failure and 10 s, not one per request: a failing exchange (or Redis, on an
  // edge) and clients asking from many addresses would otherwise write a line each.
  const failures = createLogDedup(log);

  server.get('/symbols', (_req, res) => sendJson(res, 200, catalog.listing()));
  // Readiness (/health, /readyz): 200 only when every configured series is loaded and the upstream
  // is live, else 503 with what is missing. Liveness (/livez): 200 while the process serves at all,
  // so an orchestrator restarts a hung engine but never one that is merely catching up.
  const readiness = (_req: HyperExpress.Request, res: HyperExpress.Response) => {
    const h = deps.health();
    sendJson(res, h.status === 'ok' ? 200 : 503, h);
  };
  // Probes and scrapes have their own ration: an orchestrator's must answer while a client floods, and
  // unrationed, one address took 2,582 `/metrics` a second (43 % of a core; an attacker-style probe).
  const probe = { probe: true };
  server.get('/health', readiness, probe);
  server.get('/readyz', readiness, probe);
  server.get('/livez', (_req, res) => sendJson(res, 200, { status: 'alive' }), probe);
  server.get(
    '/metrics',
    (_req, res) => {
      res.header('content-type', 'text/plain; version=0.0.4').send(metrics.render());
    },
    probe,
  );

  server.get('/candles/:symbol/:interval', async (req, res) => {
    const q = singleQuery(req.query_parameters, req.path_query);
    // Read now: uWS's address is gone once the handler awaits.
    const address = clientAddress(req.ip, req.headers['x-forwarded-for'], deps.trustProxy ?? []);
    // A parameter this route does not take is refused, not ignored: `startTime=` (as on Binance's
    // API) answered the newest bars, and a client could believe it worked.
    const unknown = q.ok ? Object.keys(q.value).find((k) => k !== 'endTime' && k !== 'limit') : undefined;
    const page = unknown !== undefined ? { ok: false as const, error: `unknown parameter '${echo(unknown, 40)}' (this route takes endTime and limit)` } : q.ok ? checkPage(catalog, req.path_parameters, q.value, 1000) : q;
    if (!page.ok) {
      badRequest();
      sendJson(res, 400, { error: page.error });
      return;
    }
    const { endTime, limit } = page.value;
    const id = seriesId(page.value.symbol, page.value.interval);
    await onLive(id, address, res, async () => {
    try {
      let bars: Bar[];
      if (endTime === undefined) bars = store.window(id).last(limit);
      else {
        bars = await store.range(id, endTime, limit);
        // Deeper than the store keeps: ask the exchange, without storing (the store stays capped).
        if (bars.length < limit) {
          const before = bars.length ? bars[0]!.openTime - 1 : endTime;
          const older = await deps.olderBars(id.symbol, id.interval, before, limit - bars.length, address);
          bars = [...older.filter((b) => b.openTime <= before), ...bars];
        }
      }
      if (res.closed) return;
      // A replay knows nothing older than its recording: said, not answered as an empty market. A page
      // inside the recording that is empty (the store's window moved on, a hole) is an empty page (200).
      const before = emptyPageBeforeRecording(deps.recording, id, endTime, bars.length === 0);
      if (before) {
        sendJson(res, 404, before);
        return;
      }
      sendJson(res, 200, { symbol: id.symbol, interval: id.interval, candles: bars.map(toWire) });
    } catch (e) {
      if (e instanceof HistoryRefusedError) {
        // Client history is bounded: too many from this address (429) or for the exchange (503).
        if (res.closed) return;
        res.header('retry-after', String(e.info.retryAfterSec));
        sendJson(res, e.info.reason === 'rate' ? 429 : 503, { error: e.message });
        return;
      }
      // Keyed by kind (class and HTTP status), not message: messages may carry what the client asked.
      failures.warn(`candles:${(e as Error).name}:${(e as { info?: { status?: unknown } }).info?.status ?? ''}`, 'candles request failed', { key: id.key, err: e });
      if (!res.closed) sendJson(res, 502, { error: `could not load candles: ${(e as Error).message}` });
    }
    });
  });
}
