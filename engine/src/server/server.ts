import HyperExpress from 'hyper-express';
import uWS from 'uWebSockets.js';
import type { Bar } from '../domain/bar.ts';
import { klineTopic, seriesId } from '../domain/series-id.ts';
import { errorMessage, toWire } from '../domain/wire.ts';
import { type Hub, STATUS_TOPIC } from '../broadcast/hub.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import { type Catalog, checkLimit, checkSeries, checkTime } from './request-params.ts';
import { loadStaticFiles } from './static-files.ts';
import type { SeriesRegistry, SeriesRequest } from '../series/series-registry.ts';
import { pointWire } from '../series/series-wire.ts';

export interface ServerDeps {
  host: string;
  port: number;
  historyOnConnect: number;
  maxBackpressureBytes: number;
  clientDir: string;
  catalog: Catalog & { source(): string };
  store: BarStore;
  hub: Hub;
  series: SeriesRegistry;
  metrics: Metrics;
  log: Logger;
  health(): Record<string, unknown> & { status: string };
  /** Older bars than the store holds, from the exchange (not stored). */
  olderBars(symbol: string, interval: string, endTime: number, limit: number): Promise<Bar[]>;
}

export interface EngineServer {
  readonly port: number;
  readonly clients: number;
  /** Closes every client socket with `code` (1001 at shutdown; tests use 1012). */
  dropClients(code: number, reason: string): void;
  /** Stops accepting connections (listen socket closed). */
  stopListening(): void;
}

/** WebSocket close code sent after an `error` message (bad symbol or interval). */
export const CLOSE_BAD_REQUEST = 4000;
/** Close code for a client too slow to keep up: it reconnects and resyncs from a fresh snapshot. */
export const CLOSE_TRY_AGAIN = 1013;

interface WsContext {
  symbol?: string;
  interval?: string;
  series?: SeriesRequest[];
  error?: string;
}

/**
 * HTTP and WebSocket front of the engine on hyper-express (uWebSockets.js). Fan-out is native:
 * every socket subscribes to its series' topic; the hub publishes each update once.
 */
export async function startServer(deps: ServerDeps): Promise<EngineServer> {
  const { catalog, store, hub, metrics, log, series } = deps;
  const server = new HyperExpress.Server({ max_body_length: 16 * 1024 });
  const sockets = new Set<HyperExpress.Websocket>();
  const clientsGauge = metrics.gauge('engine_clients_connected', 'WebSocket clients connected');
  const sentMessages = metrics.counter('engine_ws_messages_sent_total', 'Messages sent to clients (snapshots, and each published update once per subscriber)');
  const slowDropped = metrics.counter('engine_ws_slow_clients_dropped_total', 'Clients closed with 1013 because their send buffer passed the backpressure limit');
  const badRequests = metrics.counter('engine_bad_requests_total', 'Requests refused for a bad symbol, interval or parameter');
  const followedGauge = metrics.gauge('engine_series_topics_followed', 'Derived series topics with at least one client (only these get previews and messages)');
  metrics.onCollect(() => {
    clientsGauge(sockets.size);
    followedGauge(hub.followedTopics);
  });

  const sendJson = (res: HyperExpress.Response, status: number, body: unknown) => {
    res.status(status).header('cache-control', 'no-store').json(body);
  };

  server.get('/symbols', (_req, res) => sendJson(res, 200, { symbols: catalog.symbols(), intervals: catalog.intervals(), source: catalog.source() }));
  server.get('/health', (_req, res) => {
    const h = deps.health();
    sendJson(res, h.status === 'ok' ? 200 : 503, h);
  });
  server.get('/metrics', (_req, res) => {
    res.header('content-type', 'text/plain; version=0.0.4').send(metrics.render());
  });

  server.get('/candles/:symbol/:interval', async (req, res) => {
    const q = req.query_parameters as Record<string, string | undefined>;
    const series = checkSeries(catalog, req.path_parameters.symbol ?? '', req.path_parameters.interval);
    const limit = checkLimit(q.limit, 500, 1000);
    const endTime = checkTime('endTime', q.endTime);
    const bad = [series, limit, endTime].find((c) => !c.ok);
    if (bad && !bad.ok) {
      badRequests();
      sendJson(res, 400, { error: bad.error });
      return;
    }
    if (!series.ok || !limit.ok || !endTime.ok) return;
    const id = seriesId(series.value.symbol, series.value.interval);
    try {
      let bars: Bar[];
      if (endTime.value === undefined) bars = store.window(id).last(limit.value);
      else {
        bars = await store.range(id, endTime.value, limit.value);
        // Deeper than the store keeps: ask the exchange, without storing (the store stays capped).
        if (bars.length < limit.value) {
          const before = bars.length ? bars[0]!.openTime - 1 : endTime.value;
          const older = await deps.olderBars(id.symbol, id.interval, before, limit.value - bars.length);
          bars = [...older.filter((b) => b.openTime <= before), ...bars];
        }
      }
      if (res.closed) return;
      sendJson(res, 200, { symbol: id.symbol, interval: id.interval, candles: bars.map(toWire) });
    } catch (e) {
      log.warn('candles request failed', { key: id.key, err: e });
      if (!res.closed) sendJson(res, 502, { error: `could not load candles: ${(e as Error).message}` });
    }
  });

  server.get('/series', (_req, res) => sendJson(res, 200, { series: series.list() }));
  server.get('/series/:name/:symbol/:interval', (req, res) => {
    const q = req.query_parameters as Record<string, string | undefined>;
    const checked = checkSeries(catalog, req.path_parameters.symbol ?? '', req.path_parameters.interval);
    const limit = checkLimit(q.limit, 500, 10_000);
    if (!checked.ok || !limit.ok) {
      badRequests();
      sendJson(res, 400, { error: !checked.ok ? checked.error : !limit.ok ? limit.error : '' });
      return;
    }
    const params = Object.entries(q).filter(([k]) => k !== 'limit').map(([k, v]) => `${k}=${v ?? ''}`);
    const parsed = series.parse([req.path_parameters.name, ...params].join(':'), checked.value.interval);
    if (!parsed.ok) {
      badRequests();
      sendJson(res, 400, { error: parsed.error });
      return;
    }
    const id = seriesId(checked.value.symbol, checked.value.interval);
    const inst = series.instance(parsed.value[0]!, id);
    sendJson(res, 200, { name: inst.label, symbol: id.symbol, interval: id.interval, params: parsed.value[0]!.params, points: inst.window.last(limit.value).map(pointWire) });
  });

  server.upgrade('/ws/:symbol', (req, res) => {
    const q = req.query_parameters as Record<string, string | undefined>;
    const checked = checkSeries(catalog, req.path_parameters.symbol ?? '', q.interval);
    const wanted = checked.ok ? series.parse(q.series, checked.value.interval) : undefined;
    // Upgrade even a bad request: the protocol answers it with an `error` message and close 4000.
    const context: WsContext = !checked.ok ? { error: checked.error } : wanted && !wanted.ok ? { error: wanted.error } : { ...checked.value, series: wanted?.ok ? wanted.value : [] };
    res.upgrade(context);
  });

  server.ws('/ws/:symbol', { idle_timeout: 120, max_backpressure: deps.maxBackpressureBytes * 2, max_payload_length: 4 * 1024 }, (ws) => {
    const ctx = ws.context as WsContext;
    if (ctx.error || !ctx.symbol || !ctx.interval) {
      badRequests();
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
      const window = store.window(id);
      const snapshot = hub.snapshot(id, window);
      if (instances.length) {
        // Derived series ride in the same message, aligned to the snapshot's candles.
        const bars = window.last(deps.historyOnConnect);
        const from = bars[0]?.openTime ?? Infinity;
        const to = bars[bars.length - 1]?.openTime ?? -Infinity;
        const entries = instances.map((inst) => `${JSON.stringify(inst.label)}:${JSON.stringify(inst.window.between(from, to).map(pointWire))}`);
        ws.send(`${snapshot.json.slice(0, -1)},"series":{${entries.join(',')}}}`);
      } else ws.send(snapshot.bytes, false);
      ws.send(hub.status);
      ws.subscribe(klineTopic(id));
      ws.subscribe(STATUS_TOPIC);
      for (const inst of instances) {
        ws.subscribe(inst.topic);
        hub.follow(inst.topic);
      }
      following = true;
    });
    sentMessages(2);
    sockets.add(ws);
    ws.on('close', () => {
      sockets.delete(ws);
      if (following) for (const inst of instances) hub.unfollow(inst.topic);
    });
  });

  const files = loadStaticFiles(deps.clientDir);
  if (files.size === 0) log.warn('web client not built: / serves a placeholder (run npm run build:client)', { dir: deps.clientDir });
  server.get('/*', (req, res) => {
    const file = files.get(req.path) ?? (req.path.includes('.') ? undefined : files.get('/index.html'));
    if (!file) {
      if (files.size === 0 && req.path === '/') return void res.type('html').send('<h1>kline-engine</h1><p>The web client is not built. Run <code>npm run build:client</code>.</p>');
      return sendJson(res, 404, { error: `not found: ${req.path.slice(0, 100)}` });
    }
    res.header('content-type', file.type).header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.send(file.body);
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

  const listenSocket = await server.listen(deps.port, deps.host);
  const port = uWS.us_socket_local_port(listenSocket);
  let listening = true;

  const engineServer: EngineServer = {
    port,
    get clients() {
      return sockets.size;
    },
    dropClients(code, reason) {
      for (const ws of [...sockets]) ws.close(code, reason);
      sockets.clear();
    },
    stopListening() {
      if (!listening) return;
      listening = false;
      clearInterval(sweep);
      server.close();
    },
  };
  // Count what the native fan-out sends: each publish reaches every subscriber of the topic.
  hub.attach({
    subscribers: (topic) => server.uws_instance.numSubscribers(topic),
    publish: (topic, message, subscribers) => {
      sentMessages(subscribers);
      return server.uws_instance.publish(topic, message, false, false);
    },
  });
  return engineServer;
}
