import type HyperExpress from 'hyper-express';
import { errorMessage } from '../domain/wire.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';
import type { Hub } from '../broadcast/hub.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import type { SeriesService } from '../series/series-registry.ts';
import type { SeriesPositions } from '../cluster/position.ts';
import type { Catalog } from './request-params.ts';
import { TurnBudget } from '../domain/turn-budget.ts';
import { NodeAdmission } from './node-admission.ts';
import { AddressSeriesShares, type SharedVariants } from './address-series-shares.ts';
import { AddressSlots } from './address-slots.ts';
import { InstanceStarts } from './instance-starts.ts';
import { PingRound } from './ping-round.ts';
import { ResumeCatchUp } from './resume-catch-up.ts';
import { SeriesFollowers } from './series-followers.ts';
import { serveSocket, type SocketServing } from './serve-socket.ts';
import { MAX_SNAPSHOT_ALLOWANCE, SlowClients } from './slow-clients.ts';
import { CLOSE_BAD_REQUEST, CLOSE_TRY_AGAIN } from './ws-close-codes.ts';
import type { ValidContext, WsContext } from './ws-request.ts';
import { wsRouteMetrics } from './ws-route-metrics.ts';
import { wsUpgrade } from './ws-upgrade.ts';

// The route's constants and types, importable from here as before.
export { CLOSE_BAD_REQUEST, CLOSE_POLICY, CLOSE_TRY_AGAIN } from './ws-close-codes.ts';
export { CONNECTS_PER_SECOND } from './ws-upgrade.ts';
export { BUFFERED_ADDRESS_SHARE, DEFAULT_BUFFERED_TOTAL, MAX_SNAPSHOT_ALLOWANCE, STUCK_MS } from './slow-clients.ts';
export { NOT_READING_HOLD_MS } from './address-slots.ts';
export { RESUME_CATCHUP_MS } from './resume-catch-up.ts';
export { instancesPerAddress, MAX_VARIANTS_PER_ADDRESS, type SharedVariants } from './address-series-shares.ts';

export interface WsRouteDeps {
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY; '*' = any); absent = the peer is the client. */
  trustProxy?: readonly string[];
  historyOnConnect: number;
  maxBackpressureBytes: number;
  /** All sockets' send buffers together (MAX_BUFFERED_TOTAL_BYTES; default DEFAULT_BUFFERED_TOTAL). */
  maxBufferedTotalBytes?: number;
  /** A socket whose send buffer does not go down for this long is closed (default STUCK_MS). */
  stuckMs?: number;
  /** A socket that sends no frame (answers no ping) for this long is closed (default 60 s). */
  pingTimeoutMs?: number;
  /** How long the slot of a socket closed for not reading stays counted in its address's cap (NOT_READING_HOLD_MS; default 5 min). */
  notReadingHoldMs?: number;
  /** Browser origins allowed to connect (empty = any): others are refused with 403 before the upgrade. */
  allowedOrigins: readonly string[];
  /** WebSocket connections one client address may hold at once (0 or absent = no limit). */
  maxConnectionsPerAddress?: number;
  /** WebSocket connections this node holds at once, every address together (0 or absent = no limit). */
  maxClients?: number;
  /** New WebSocket connections this node takes a second, every address together, after a burst of MAX_CLIENTS (0 or absent = no limit). */
  maxConnectsPerSecond?: number;
  /** Derived-series instances one client address may start per minute, as ON_DEMAND_PER_MIN rations series (absent = no limit). */
  onDemandPerMinute?: number;
  /** MAX_SERIES_INSTANCES: one client address may hold instancesPerAddress of them (with per-address limits on). */
  maxSeriesInstances?: number;
  /** The same ration kept for the whole cluster (an edge's SharedRateLimit), taken after this node's own. */
  sharedInstanceStarts?: { take(address: string, n: number): Promise<number> };
  /** MAX_CONNECTIONS_PER_ADDRESS for the whole cluster (an edge's SharedConnections), asked after this node's own, while the socket is served. */
  sharedConnections?: { opened(address: string, count: number): Promise<boolean>; closed(address: string, count: number): void };
  /** MAX_VARIANTS_PER_ADDRESS for the whole cluster (an edge's SharedConnections), asked after this node's own, before the series are served. */
  sharedVariants?: SharedVariants;
  catalog: Catalog;
  store: BarStore;
  hub: Hub;
  series: SeriesService;
  metrics: Metrics;
  /** Epoch/offset per series and recent history for resumes (issue 13); absent: no positions on the wire. */
  positions?: SeriesPositions;
  /** Counts requests refused for a bad symbol, interval or parameter (shared with the HTTP routes). */
  badRequest(): void;
  /** Counts messages sent to clients. */
  sent(n: number): void;
  /** Which shard of a topic a socket subscribes to (topic-shards.ts). */
  topics: { join(topic: string): string };
  /** Makes series live on demand and knows who holds them (absent: only live series are served). */
  demand?: SeriesDemand;
}

export interface WsRoute {
  readonly clients: number;
  /** Tells every client of a series why it ended (`error` with `code`) and closes them with 4000. */
  endSeries(key: string, code: string, message: string): void;
  /** Closes every client socket with `code`. */
  dropClients(code: number, reason: string): void;
  /** Stops the slow-client sweep (at shutdown). */
  close(): void;
}

/**
 * `/ws/:symbol?interval=&series=`: a snapshot, then the series' updates through uWS's native
 * topic fan-out (every socket subscribes to its series' topics; the hub publishes each update once).
 */
export function registerWsRoute(server: HyperExpress.Server, deps: WsRouteDeps): WsRoute {
  const { catalog, hub, metrics, series, badRequest } = deps;
  const sockets = new Set<HyperExpress.Websocket>();
  const m = wsRouteMetrics(metrics);
  // With per-address limits on: the connections an address holds (address-slots.ts).
  const slots = new AddressSlots({ maxConnectionsPerAddress: deps.maxConnectionsPerAddress, notReadingHoldMs: deps.notReadingHoldMs, shared: deps.sharedConnections, refused: m.refusedBusy });
  const notReading = (ws: HyperExpress.Websocket) => slots.notReadingClosed(ws);
  // Sockets too slow to keep, and all send buffers together (slow-clients.ts); sockets that answer no ping (ping-round.ts).
  const slow = new SlowClients({
    maxBackpressureBytes: deps.maxBackpressureBytes,
    maxBufferedTotalBytes: deps.maxBufferedTotalBytes,
    stuckMs: deps.stuckMs,
    sockets,
    notReading,
    slowDropped: m.slowDropped,
    stuckClosed: m.stuckClosed,
    budgetClosed: m.budgetClosed,
    budgetRefused: m.budgetRefused,
  });
  const pings = new PingRound({ sockets, timeoutMs: deps.pingTimeoutMs ?? 60_000, unanswered: m.unanswered, notReading });
  const followers = new SeriesFollowers<HyperExpress.Websocket>();
  metrics.onCollect(() => {
    m.clients(sockets.size);
    m.followed(hub.followedTopics);
    m.buffered(slow.buffered);
  });
  metrics.onCollect(() => m.held(slots.held));
  const admission = new NodeAdmission(deps.maxClients ?? 0, deps.maxConnectsPerSecond ?? 0, () => sockets.size);
  const catchUp = new ResumeCatchUp(deps.positions);
  const serving: SocketServing = {
    sockets,
    slow,
    pings,
    followers,
    shares: new AddressSeriesShares({ maxConnectionsPerAddress: deps.maxConnectionsPerAddress, maxSeriesInstances: deps.maxSeriesInstances, shared: deps.sharedVariants }),
    instanceStarts: new InstanceStarts(deps.onDemandPerMinute, deps.sharedInstanceStarts),
    catchUp,
    /**
     * A series that just went live for its waiting clients: their snapshots are serialized and sent in
     * turns of about a millisecond, so many cold series arriving together never hold the live updates
     * of every other client behind them.
     */
    coldTurns: new TurnBudget(1),
    /**
     * Every other first message likewise, in turns of a few milliseconds: each was a setImmediate of
     * its own, all run in one go, and 1,000 sockets connecting together held the event loop ~2 s
     * (a probe: each asked for a ~1 MB first message; `/livez` answered after 2,050 ms).
     */
    firstTurns: new TurnBudget(4),
    store: deps.store,
    hub,
    series,
    historyOnConnect: deps.historyOnConnect,
    positions: deps.positions,
    topics: deps.topics,
    demand: deps.demand,
    sent: deps.sent,
    floodClosed: m.floodClosed,
  };

  server.upgrade(
    '/ws/:symbol',
    wsUpgrade({
      allowedOrigins: deps.allowedOrigins,
      trustProxy: deps.trustProxy,
      maxConnectionsPerAddress: deps.maxConnectionsPerAddress,
      admission,
      slots,
      catalog,
      series,
      refusedOrigins: m.refusedOrigins,
      refusedNode: m.refusedNode,
      refusedBusy: m.refusedBusy,
      refusedRate: m.refusedRate,
    }),
  );

  // Client messages are only counted: handed over undecoded (hyper-express decodes each to a string by default).
  // uWS skips a socket over its cap (drops messages): the cap stays a limit above where the sweep closes
  // one at the latest (twice the limit and its snapshot's allowance), so a socket is closed and resyncs
  // before it loses any.
  server.ws('/ws/:symbol', { idle_timeout: 120, max_backpressure: deps.maxBackpressureBytes * 3 + MAX_SNAPSHOT_ALLOWANCE, max_payload_length: 4 * 1024, message_type: 'ArrayBuffer' }, (ws) => {
    const asked = ws.context as WsContext;
    if (asked.error || !asked.symbol || !asked.interval) {
      badRequest();
      ws.send(errorMessage(asked.error ?? 'bad request', asked.code, undefined, asked.badSeries));
      ws.close(CLOSE_BAD_REQUEST, 'bad request');
      return;
    }
    const ctx = asked as ValidContext;
    const address = ctx.address ?? '';
    const full = admission.full();
    if (full) {
      m.refusedNode.server_full();
      ws.send(errorMessage(full.error, full.code, full.retryAfterSec));
      ws.close(CLOSE_TRY_AGAIN, 'server full');
      return;
    }
    slots.open(ws, address, () => serveSocket(serving, ws, ctx, address));
  });

  slow.start();
  pings.start();

  return {
    get clients() {
      return sockets.size;
    },
    endSeries(key, code, message) {
      followers.end(key, code, message);
    },
    dropClients(code, reason) {
      for (const ws of [...sockets]) ws.close(code, reason);
      sockets.clear();
    },
    close() {
      slow.stop();
      pings.stop();
      slots.clear();
      catchUp.clear();
    },
  };
}
