import HyperExpress from 'hyper-express';
import { closeAfterEachAnswer } from './close-after-answer.ts';
import uWS from 'uWebSockets.js';
import type { Bar } from '../domain/bar.ts';
import type { Hub } from '../broadcast/hub.ts';
import type { Logger } from '../log.ts';
import { loopDelayGauges } from './loop-delay.ts';
import { runQueueWaitCounters } from './run-queue-wait.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import type { SeriesService } from '../series/series-registry.ts';
import { withHttpEdges } from './http-edges.ts';
import type { RecordingReach } from './before-recording.ts';
import { registerHttpRoutes } from './http-routes.ts';
import type { Catalog } from './request-params.ts';
import { registerSeriesRoutes } from './series-routes.ts';
import { registerStaticRoute } from './static-route.ts';
import { routeErrorHandler } from './route-errors.ts';
import { requestRation } from './request-ration.ts';
import { registerWsRoute, type SharedVariants } from './ws-route.ts';
import { TopicShards } from '../broadcast/topic-shards.ts';
import type { SeriesPositions } from '../cluster/position.ts';
import type { SymbolsListing } from '../pipeline/series-catalog.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';

export { CLOSE_BAD_REQUEST, CLOSE_TRY_AGAIN } from './ws-route.ts';

export interface ServerDeps {
  host: string;
  port: number;
  historyOnConnect: number;
  maxBackpressureBytes: number;
  maxBufferedTotalBytes?: number;
  stuckMs?: number;
  notReadingHoldMs?: number;
  clientDir: string;
  /** CORS on the public GET endpoints ('*' = any origin). */
  corsOrigins: readonly string[];
  /** Origins allowed to open WebSockets (empty = not checked). */
  allowedOrigins: readonly string[];
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY; '*' = any); absent = the peer is the client. */
  trustProxy?: readonly string[];
  /** WebSocket connections one client address may hold at once (0 or absent = no limit). */
  maxConnectionsPerAddress?: number;
  /** WebSocket connections this node holds at once (MAX_CLIENTS; 0 or absent = no limit). */
  maxClients?: number;
  /** New WebSocket connections this node takes a second (MAX_CONNECTS_PER_SECOND; 0 or absent = no limit). */
  maxConnectsPerSecond?: number;
  /** A WebSocket that answers no ping for this long is closed (PING_TIMEOUT_MS). */
  pingTimeoutMs?: number;
  /** JSON API requests one client address may make a second after a burst (0 or absent = no limit). */
  httpRequestsPerSecond?: number;
  /** New series (on-demand ones, derived-series instances) one client address may start per minute (absent = no limit). */
  onDemandPerMinute?: number;
  /** MAX_SERIES_INSTANCES: one client address may hold a share of them (see instancesPerAddress). */
  maxSeriesInstances?: number;
  /** New derived-series instances' ration kept for the whole cluster (edges). */
  sharedInstanceStarts?: { take(address: string, n: number): Promise<number> };
  /** MAX_CONNECTIONS_PER_ADDRESS kept for the whole cluster (edges). */
  sharedConnections?: { opened(address: string, count: number): Promise<boolean>; closed(address: string, count: number): void };
  /** MAX_VARIANTS_PER_ADDRESS kept for the whole cluster (edges). */
  sharedVariants?: SharedVariants;
  catalog: Catalog & { source(): string; listing(): SymbolsListing };
  store: BarStore;
  hub: Hub;
  series: SeriesService;
  metrics: Metrics;
  log: Logger;
  /** Epoch/offset per series and recent history for resumes (issue 13). */
  positions?: SeriesPositions;
  health(): Record<string, unknown> & { status: string };
  /** Older bars than the store holds, from the exchange (not stored). */
  olderBars(symbol: string, interval: string, endTime: number, limit: number, address: string): Promise<Bar[]>;
  /** Makes series live on demand (absent: only live series are served). */
  demand?: SeriesDemand;
  /** SOURCE=replay: where the recording starts, so a history page older than it says so. */
  recording?: RecordingReach;
  /** Subscribers of a topic that one turn's fan-out sends to (default TOPIC_SHARD_SIZE; tests use a few). */
  topicShardSize?: number;
  /** How long an HTTP read waits for a cold series to load (default HTTP_LOAD_WAIT_MS; tests shorten it). */
  httpLoadWaitMs?: number;
}

/**
 * A topic's subscribers beyond this many get its updates in later turns (topic-shards.ts): pushes to
 * 16,000 sockets in one pass held the loop 162–411 ms at a time (an attacker-style probe), in shards
 * of this size 9–97 ms.
 */
export const TOPIC_SHARD_SIZE = 1024;

/** Probe and scrape requests (`/health`, `/metrics`…) one address may make a second, after a burst of 5 seconds' worth. */
export const PROBES_PER_SECOND = 50;

/** The server settings that come straight from the configuration, the same for every role. */
export type ServerSettings = Pick<ServerDeps, 'host' | 'port' | 'historyOnConnect' | 'maxBackpressureBytes' | 'maxBufferedTotalBytes' | 'clientDir' | 'corsOrigins' | 'allowedOrigins' | 'trustProxy' | 'maxConnectionsPerAddress' | 'maxClients' | 'maxConnectsPerSecond' | 'onDemandPerMinute' | 'maxSeriesInstances' | 'httpRequestsPerSecond' | 'pingTimeoutMs' | 'stuckMs' | 'notReadingHoldMs'>;

export function serverSettings(config: ServerSettings): ServerSettings {
  const { host, port, historyOnConnect, maxBackpressureBytes, maxBufferedTotalBytes, clientDir, corsOrigins, allowedOrigins, trustProxy, maxConnectionsPerAddress, maxClients, maxConnectsPerSecond, onDemandPerMinute, maxSeriesInstances, httpRequestsPerSecond, pingTimeoutMs, stuckMs, notReadingHoldMs } = config;
  return { host, port, historyOnConnect, maxBackpressureBytes, maxBufferedTotalBytes, clientDir, corsOrigins, allowedOrigins, trustProxy, maxConnectionsPerAddress, maxClients, maxConnectsPerSecond, onDemandPerMinute, maxSeriesInstances, httpRequestsPerSecond, pingTimeoutMs, stuckMs, notReadingHoldMs };
}

export interface EngineServer {
  readonly port: number;
  readonly clients: number;
  /** Closes every client socket with `code` (1001 at shutdown; tests use 1012). */
  dropClients(code: number, reason: string): void;
  /** Stops accepting connections (listen socket closed). */
  stopListening(): void;
  /** Tells every client of a series why it ended and closes them with 4000. */
  endSeries(key: string, code: string, message: string): void;
}

/**
 * HTTP and WebSocket front of the engine on hyper-express (uWebSockets.js): composes the JSON
 * routes, the WebSocket route and the static client (last, it answers every other path).
 */
export async function startServer(deps: ServerDeps): Promise<EngineServer> {
  const { hub, metrics } = deps;
  // auto_close off: hyper-express would close the listening socket on SIGUSR1/SIGUSR2 (and SIGINT/SIGTERM
  // ahead of main's ordered shutdown), leaving a live process that serves nothing.
  const server = new HyperExpress.Server({ max_body_length: 16 * 1024, auto_close: false });
  closeAfterEachAnswer(server);
  const sentMessages = metrics.counter('engine_ws_messages_sent_total', 'Messages sent to clients (snapshots, and each published update once per subscriber)');
  const badRequest = metrics.counter('engine_bad_requests_total', 'Requests refused for a bad symbol, interval or parameter');
  const failed = metrics.counter('engine_http_errors_total', 'Requests a route failed on (answered 500; each distinct error logged once)');
  server.set_error_handler(routeErrorHandler({ log: deps.log, counted: () => failed() }));

  const stopLoopDelay = loopDelayGauges(metrics);
  runQueueWaitCounters(metrics);
  const rationed = metrics.counter('engine_http_rate_limited_total', 'HTTP requests refused (429) for coming too fast from one client address: the API and client files (HTTP_REQUESTS_PER_SECOND, answers counted by size), and probes (/health, /metrics…) in their own ration');
  const perSecond = deps.httpRequestsPerSecond;
  const ration = perSecond ? requestRation({ perSecond, trustProxy: deps.trustProxy, refused: () => rationed() }) : undefined;
  const probeRation = perSecond ? requestRation({ perSecond: PROBES_PER_SECOND, trustProxy: deps.trustProxy, refused: () => rationed(), setting: 'probe requests a second:' }) : undefined;
  const routes = withHttpEdges(server, { corsOrigins: deps.corsOrigins, ration, probeRation });
  registerHttpRoutes(routes, { ...deps, badRequest: () => badRequest() });
  registerSeriesRoutes(routes, { ...deps, badRequest: () => badRequest() });
  const uws = server.uws_instance;
  const later = metrics.counter('engine_ws_fanout_later_total', `Publishes to a topic's further shards of TOPIC_SHARD_SIZE subscribers, sent in a later turn (a topic that big goes out a shard a turn)`);
  const topics = new TopicShards(
    { count: (topic) => uws.numSubscribers(topic), publish: (topic, message) => void uws.publish(topic, message, false, false) },
    {
      onLater: () => later(),
      shardSize: deps.topicShardSize ?? TOPIC_SHARD_SIZE,
      later: (fn) => {
        const t = setImmediate(fn);
        return () => clearImmediate(t);
      },
    },
  );
  const ws = registerWsRoute(server, { ...deps, topics, badRequest: () => badRequest(), sent: (n) => sentMessages(n) });
  registerStaticRoute(server, deps.clientDir, deps.log, ration);

  const listenSocket = await server.listen(deps.port, deps.host);
  const port = uWS.us_socket_local_port(listenSocket);
  let listening = true;

  // Count what the native fan-out sends: each publish reaches every subscriber of the topic.
  hub.attach({
    subscribers: (topic) => topics.subscribers(topic),
    publish: (topic, message, subscribers) => {
      sentMessages(subscribers);
      topics.publish(topic, message);
      return true;
    },
  });
  return {
    port,
    get clients() {
      return ws.clients;
    },
    dropClients: (code, reason) => ws.dropClients(code, reason),
    endSeries: (key, code, message) => ws.endSeries(key, code, message),
    stopListening() {
      if (!listening) return;
      listening = false;
      stopLoopDelay();
      topics.clear();
      ws.close();
      server.close();
    },
  };
}
