import type HyperExpress from 'hyper-express';
import { klineTopic, seriesId } from '../domain/series-id.ts';
import { errorMessage } from '../domain/wire.ts';
import { type Hub, STATUS_TOPIC } from '../broadcast/hub.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import type { SeriesRegistry, SeriesRequest } from '../series/series-registry.ts';
import type { SeriesPositions } from '../cluster/position.ts';
import { parseResume, type ResumeRequest } from '../cluster/resume-request.ts';
import { firstMessage } from '../broadcast/first-message.ts';
import { type Catalog, checkSeries } from './request-params.ts';

/** WebSocket close code sent after an `error` message (bad symbol or interval). */
export const CLOSE_BAD_REQUEST = 4000;
/** Close code for a client too slow to keep up: it reconnects and resyncs from a fresh snapshot. */
export const CLOSE_TRY_AGAIN = 1013;

export interface WsRouteDeps {
  historyOnConnect: number;
  maxBackpressureBytes: number;
  /** Browser origins allowed to connect (empty = any): others are refused with 403 before the upgrade. */
  allowedOrigins: readonly string[];
  catalog: Catalog;
  store: BarStore;
  hub: Hub;
  series: SeriesRegistry;
  metrics: Metrics;
  /** Epoch/offset per series and recent history for resumes (issue 13); absent: no positions on the wire. */
  positions?: SeriesPositions;
  /** Counts requests refused for a bad symbol, interval or parameter (shared with the HTTP routes). */
  badRequest(): void;
  /** Counts messages sent to clients. */
  sent(n: number): void;
}

export interface WsRoute {
  readonly clients: number;
  /** Closes every client socket with `code`. */
  dropClients(code: number, reason: string): void;
  /** Stops the slow-client sweep (at shutdown). */
  close(): void;
}

interface WsContext {
  symbol?: string;
  interval?: string;
  series?: SeriesRequest[];
  resume?: ResumeRequest;
  error?: string;
}

/**
 * `/ws/:symbol?interval=&series=`: a snapshot, then the series' updates through uWS's native
 * topic fan-out (every socket subscribes to its series' topics; the hub publishes each update once).
 */
export function registerWsRoute(server: HyperExpress.Server, deps: WsRouteDeps): WsRoute {
  const { catalog, store, hub, metrics, series, badRequest, sent } = deps;
  const sockets = new Set<HyperExpress.Websocket>();
  const clientsGauge = metrics.gauge('engine_clients_connected', 'WebSocket clients connected');
  const slowDropped = metrics.counter('engine_ws_slow_clients_dropped_total', 'Clients closed with 1013 because their send buffer passed the backpressure limit');
  const followedGauge = metrics.gauge('engine_series_topics_followed', 'Derived series topics with at least one client (only these get previews and messages)');
  metrics.onCollect(() => {
    clientsGauge(sockets.size);
    followedGauge(hub.followedTopics);
  });

  const refusedOrigins = metrics.counter('engine_ws_origin_refused_total', 'WebSocket upgrades refused with 403 because their Origin is not in ALLOWED_ORIGINS');
  server.upgrade('/ws/:symbol', (req, res) => {
    const origin = req.headers.origin;
    // Only browsers send Origin (and cannot forge it); other clients are not what this guards against.
    if (deps.allowedOrigins.length && origin !== undefined && !deps.allowedOrigins.includes('*') && !deps.allowedOrigins.includes(origin)) {
      refusedOrigins();
      res.status(403).header('cache-control', 'no-store').json({ error: `origin ${origin.slice(0, 100)} is not allowed (ALLOWED_ORIGINS)` });
      return;
    }
    const q = req.query_parameters as Record<string, string | undefined>;
    const checked = checkSeries(catalog, req.path_parameters.symbol ?? '', q.interval);
    const wanted = checked.ok ? series.parse(q.series, checked.value.interval) : undefined;
    const resume = parseResume(q.epoch, q.since);
    // Upgrade even a bad request: the protocol answers it with an `error` message and close 4000.
    const context: WsContext = !checked.ok ? { error: checked.error } : wanted && !wanted.ok ? { error: wanted.error } : !resume.ok ? { error: resume.error } : { ...checked.value, series: wanted?.ok ? wanted.value : [], resume: resume.value };
    res.upgrade(context);
  });

  server.ws('/ws/:symbol', { idle_timeout: 120, max_backpressure: deps.maxBackpressureBytes * 2, max_payload_length: 4 * 1024 }, (ws) => {
    const ctx = ws.context as WsContext;
    if (ctx.error || !ctx.symbol || !ctx.interval) {
      badRequest();
      ws.send(errorMessage(ctx.error ?? 'bad request'));
      ws.close(CLOSE_BAD_REQUEST, 'bad request');
      return;
    }
    const id = seriesId(ctx.symbol, ctx.interval);
    let instances;
    try {
      instances = (ctx.series ?? []).map((r) => series.instance(r, id));
    } catch (e) {
      ws.send(errorMessage((e as Error).message));
      ws.close(CLOSE_BAD_REQUEST, 'bad request');
      return;
    }
    // Snapshot and subscribe in one synchronous turn: the pipeline updates the window before it
    // publishes, so no update can fall between the two (none lost, none duplicated). The turn is a
    // setImmediate, not `open` itself: uWS corks `open`, and a snapshot bigger than the cork buffer
    // would leave a send buffer of its size attached to the socket for life (~80 KiB per client).
    // Set once the socket follows its series topics, so a socket closed before that un-follows nothing.
    let following = false;
    setImmediate(() => {
      if (ws.closed) return;
      // historical (derived series aligned to its candles) or, for a resume, recovered.
      ws.send(firstMessage({ id, window: store.window(id), hub, historyOnConnect: deps.historyOnConnect, positions: deps.positions, resume: ctx.resume, instances }), false);
      ws.send(hub.status);
      ws.subscribe(klineTopic(id));
      ws.subscribe(STATUS_TOPIC);
      for (const inst of instances) {
        ws.subscribe(inst.topic);
        hub.follow(inst.topic);
      }
      following = true;
    });
    sent(2);
    sockets.add(ws);
    ws.on('close', () => {
      sockets.delete(ws);
      if (following) for (const inst of instances) hub.unfollow(inst.topic);
    });
  });

  // Slow-client policy: a socket whose send buffer passes the limit is closed with 1013 so the
  // client resyncs from a fresh snapshot; uWS's own cap (2x) bounds memory in between.
  const sweep = setInterval(() => {
    for (const ws of sockets) {
      if (ws.buffered > deps.maxBackpressureBytes) {
        slowDropped();
        sockets.delete(ws);
        ws.close(CLOSE_TRY_AGAIN, 'too slow: reconnect to resync');
      }
    }
  }, 250);
  sweep.unref();

  return {
    get clients() {
      return sockets.size;
    },
    dropClients(code, reason) {
      for (const ws of [...sockets]) ws.close(code, reason);
      sockets.clear();
    },
    close() {
      clearInterval(sweep);
    },
  };
}
