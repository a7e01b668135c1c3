import { randomBytes } from 'node:crypto';
import type HyperExpress from 'hyper-express';
import { AddressConnections } from './address-connections.ts';
import { AddressVariants } from './address-variants.ts';
import { echo } from '../domain/echo.ts';
import { clientAddress } from './client-address.ts';
import { klineTopic, seriesId } from '../domain/series-id.ts';
import { errorMessage, loadingMessage } from '../domain/wire.ts';
import type { SeriesDemand } from '../pipeline/series-demand.ts';
import { type Hub, STATUS_TOPIC } from '../broadcast/hub.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import { SeriesBusyError } from '../series/series-errors.ts';
import { AddressRateLimit, IPV6_BLOCK_SHARE, pooledBlock } from './address-rate-limit.ts';
import { SendBufferWatch } from './send-buffer-watch.ts';
import { MAX_SERIES_PER_REQUEST, SERIES_CAP_RETRY_SEC, type SeriesInstance, type SeriesLease, type SeriesRefusal, type SeriesRequest, type SeriesService } from '../series/series-registry.ts';
import type { SeriesPositions } from '../cluster/position.ts';
import { parseResume, type ResumeRequest } from '../cluster/resume-request.ts';
import { firstMessage } from '../broadcast/first-message.ts';
import { type Catalog, checkSeries, singleQuery } from './request-params.ts';
import { TurnBudget } from '../domain/turn-budget.ts';
import { SendBudget } from './send-budget.ts';
import { HeldSlots } from './held-slots.ts';
import { TokenBucket } from '../domain/token-bucket.ts';
import { CatchUpWaits } from './catch-up-waits.ts';
import { connectCost, SERIES_PER_CONNECT_TOKEN } from './connect-cost.ts';
import { ParseMemo } from '../series/parse-memo.ts';
import { NodeAdmission } from './node-admission.ts';

/** WebSocket close code sent after an `error` message (bad symbol or interval). */
export const CLOSE_BAD_REQUEST = 4000;
/** Close code for a client too slow to keep up: it reconnects and resyncs from a fresh snapshot. */
export const CLOSE_TRY_AGAIN = 1013;

/** New WebSocket connections per second one address may open after its burst (with MAX_CONNECTIONS_PER_ADDRESS on). */
export const CONNECTS_PER_SECOND = 10;

/**
 * Most bytes of a socket's first message allowed in its send buffer beyond MAX_BACKPRESSURE_BYTES
 * while it goes out (8 derived series of 720 points and their candles measured 600 KB; 16, twice
 * that). Above it, the allowance stops there.
 */
export const MAX_SNAPSHOT_ALLOWANCE = 16 * 1024 * 1024;
/** A socket whose send buffer has not gone down for this long is closed (see SendBudget). */
export const STUCK_MS = 10_000;
/** NOT_READING_HOLD_MS's default: about how long the kernel keeps a closed socket's unsent data (see HeldSlots). */
export const NOT_READING_HOLD_MS = 5 * 60_000;
/** MAX_BUFFERED_TOTAL_BYTES's default. */
export const DEFAULT_BUFFERED_TOTAL = 256 * 1024 * 1024;
/** The share of it one client address may hold (see SendBudget). */
export const BUFFERED_ADDRESS_SHARE = 1 / 16;
/** When a first message refused for the send budget may be asked for again (s). */
const BUDGET_RETRY_SEC = 2;
/** Longest a resuming client waits for this node to apply updates it already saw (see `behind`). */
export const RESUME_CATCHUP_MS = 2000;
const RESUME_CATCHUP_POLL_MS = 10;
/** Parameter variants of one definition on one series a client address may hold (the registry keeps 16 per series for everyone). */
export const MAX_VARIANTS_PER_ADDRESS = 4;
/** Close code for a client that sends a stream of messages: the protocol has none from clients. */
export const CLOSE_POLICY = 1008;
/** Pings of a socket whose echo counts (a client may answer one after the next was sent: three fit in a timeout). */
const PINGS_KEPT = 3;
/** Sockets one task of a ping round handles, and the time a turn gives such tasks (ms). */
const PING_CHUNK = 128;
const PING_TURN_MS = 2;
/** Random bytes in a ping's payload (a client that does not read cannot guess it to answer). */
const PING_PAYLOAD_BYTES = 8;
/**
 * Messages a client may send (a library's keepalive, ignored): a burst of 10, then 1 a second. Beyond,
 * the socket is closed: each one costs the engine a call into JavaScript (a probe's socket sent
 * 407,400 in 8 s and spent 4.3 s of an edge's CPU, never closed).
 */
const INBOUND_PER_SECOND = 1;
const INBOUND_BURST = 10;
/** The query parameters `/ws/:symbol` takes. */
const WS_PARAMS = new Set(['interval', 'series', 'epoch', 'since']);

/** The definitions of these variants, each once. */
const definitions = (variants: ReadonlyArray<{ def: string }>): string[] => [...new Set(variants.map((v) => v.def))];

/** Derived-series variants an address holds, counted for the whole cluster: see SharedConnections. */
export interface SharedVariants {
  /** `held`: every label of `def` on `series` this node's sockets from `address` hold, a new socket's included. */
  variantsTaken(address: string, series: string, def: string, held: ReadonlyArray<readonly [string, number]>): Promise<boolean>;
  variantsReleased(address: string, series: string, def: string, held: ReadonlyArray<readonly [string, number]>): void;
  /** `held`: every instance this node's sockets from `address` hold (see instancesPerAddress), a new socket's included. */
  instancesTaken(address: string, held: ReadonlyArray<readonly [string, number]>): Promise<boolean>;
  instancesReleased(address: string, held: ReadonlyArray<readonly [string, number]>): void;
}

/**
 * The derived-series instances (series, parameters, symbol, interval) one client address may hold at
 * once, with per-address limits on: a sixteenth of MAX_SERIES_INSTANCES, and at least a full request.
 * One address took all 500 from 34 sockets (an attacker-style probe), within its variant cap and its
 * ration of new ones, and every other address's new derived series were refused while it held them.
 * An instance counts once however many of the address's sockets hold it.
 */
export const instancesPerAddress = (maxSeriesInstances: number): number => Math.max(MAX_SERIES_PER_REQUEST, Math.ceil(maxSeriesInstances / 16));

/** AddressVariants's definition under which an address's instances are counted (every series together). */
const INSTANCES = 'instances';

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

interface WsContext {
  symbol?: string;
  interval?: string;
  series?: SeriesRequest[];
  /** Derived series asked for that this interval cannot serve: reported failed to the client, not refusing it (see SeriesRefusal). */
  refused?: SeriesRefusal[];
  resume?: ResumeRequest;
  error?: string;
  code?: string;
  /** The client's address: starting a cold series is rationed per address. */
  address?: string;
}

/** A request that passed its checks. */
type ValidContext = WsContext & { symbol: string; interval: string };

/**
 * `/ws/:symbol?interval=&series=`: a snapshot, then the series' updates through uWS's native
 * topic fan-out (every socket subscribes to its series' topics; the hub publishes each update once).
 */
export function registerWsRoute(server: HyperExpress.Server, deps: WsRouteDeps): WsRoute {
  const { catalog, store, hub, metrics, series, badRequest, sent } = deps;
  const sockets = new Set<HyperExpress.Websocket>();
  /** Resumes waiting for this node's feed to catch up with where their client was (one timer for all). */
  const catchUps = new CatchUpWaits(RESUME_CATCHUP_POLL_MS);
  /** Which sockets are too slow to keep (see the sweep). */
  const sendBuffers = new SendBufferWatch<HyperExpress.Websocket>(deps.maxBackpressureBytes);
  /** All of them together, and sockets holding bytes without reading. */
  const totalBuffered = deps.maxBufferedTotalBytes ?? DEFAULT_BUFFERED_TOTAL;
  const budget = new SendBudget<HyperExpress.Websocket>(totalBuffered, totalBuffered * BUFFERED_ADDRESS_SHARE, deps.stuckMs ?? STUCK_MS);
  /** When each socket last answered one of our pings (see the unanswered-ping check). */
  const lastHeard = new Map<HyperExpress.Websocket, number>();
  /** The payloads of each socket's pings not answered yet, newest last (at most PINGS_KEPT). */
  const pingsOut = new Map<HyperExpress.Websocket, string[]>();
  /**
   * A series that just went live for its waiting clients: their snapshots are serialized and sent in
   * turns of about a millisecond, so many cold series arriving together never hold the live updates
   * of every other client behind them.
   */
  const coldTurns = new TurnBudget(1);
  /**
   * Every other first message likewise, in turns of a few milliseconds: each was a setImmediate of
   * its own, all run in one go, and 1,000 sockets connecting together held the event loop ~2 s
   * (a probe: each asked for a ~1 MB first message; `/livez` answered after 2,050 ms).
   */
  const firstTurns = new TurnBudget(4);
  /** Sockets following each series (to end them when its symbol stops trading). */
  const bySeries = new Map<string, Set<HyperExpress.Websocket>>();
  const clientsGauge = metrics.gauge('engine_clients_connected', 'WebSocket clients connected');
  const floodClosed = metrics.counter('engine_ws_message_flood_closed_total', 'Clients closed with 1008 for sending a stream of messages (clients send none)');
  const unanswered = metrics.counter('engine_ws_unanswered_closed_total', 'Clients closed with 1013 for answering no ping for PING_TIMEOUT_MS (not reading their socket)');
  const pingTimeoutMs = deps.pingTimeoutMs ?? 60_000;
  const slowDropped = metrics.counter('engine_ws_slow_clients_dropped_total', 'Clients closed with 1013 because their send buffer passed the backpressure limit');
  const stuckClosed = metrics.counter('engine_ws_stuck_closed_total', 'Clients closed with 1013 because their send buffer did not go down for STUCK_MS (not reading)');
  const budgetClosed = metrics.counter('engine_ws_budget_closed_total', 'Clients closed with 1013, the largest not draining first, while all send buffers together passed MAX_BUFFERED_TOTAL_BYTES, or those of their address its share');
  const budgetRefused = metrics.counter('engine_ws_budget_refused_total', 'First messages refused (error server_busy, close 4000) because they would pass MAX_BUFFERED_TOTAL_BYTES or their address\'s share of it');
  const bufferedGauge = metrics.gauge('engine_ws_buffered_bytes', 'Bytes in all client send buffers at the last sweep (250 ms)');
  const followedGauge = metrics.gauge('engine_series_topics_followed', 'Derived series topics with at least one client (only these get previews and messages)');
  metrics.onCollect(() => {
    clientsGauge(sockets.size);
    followedGauge(hub.followedTopics);
    bufferedGauge(budget.buffered);
  });

  const perAddress = new AddressConnections(deps.maxConnectionsPerAddress ?? 0);
  // Sockets closed for not reading: their slots stay counted a while (held-slots.ts), with the cap on.
  const notReading = new WeakSet<HyperExpress.Websocket>();
  const heldSlots = new HeldSlots(deps.maxConnectionsPerAddress ? (deps.notReadingHoldMs ?? NOT_READING_HOLD_MS) : 0);
  // With per-address limits on (MAX_CONNECTIONS_PER_ADDRESS), parameter variants too.
  const perAddressVariants = new AddressVariants(deps.maxConnectionsPerAddress ? MAX_VARIANTS_PER_ADDRESS : 0);
  // And the instances an address holds, every series together.
  const instanceShare = deps.maxConnectionsPerAddress && deps.maxSeriesInstances ? instancesPerAddress(deps.maxSeriesInstances) : 0;
  const perAddressInstances = new AddressVariants(instanceShare);
  const tooManyInstances = `at most ${instanceShare} derived series held at once from one address (a sixteenth of MAX_SERIES_INSTANCES): close some first`;
  // Each new derived-series instance is a warm-up (here, or on the cluster's leader through Redis):
  // rationed per address like new series; joining an instance someone holds is free. A burst fits a
  // full request (16 series).
  const perMinute = deps.onDemandPerMinute;
  const instanceStarts = perMinute ? new AddressRateLimit({ perMinute, burst: Math.max(MAX_SERIES_PER_REQUEST, Math.ceil(perMinute / 2)) }) : undefined;
  const instancesRateLimited = (wait: number) => `too many new derived series from this address (ON_DEMAND_PER_MIN); retry in ${wait} s`;
  const heldGauge = metrics.gauge('engine_ws_address_slots_held', 'Connection slots still counted in their address\'s MAX_CONNECTIONS_PER_ADDRESS after their socket was closed for not reading (NOT_READING_HOLD_MS)');
  metrics.onCollect(() => heldGauge(heldSlots.size));
  const refusedBusy = metrics.counter('engine_ws_address_refused_total', 'WebSocket connections refused because their address holds MAX_CONNECTIONS_PER_ADDRESS already');
  const tooMany = (address: string) => `too many connections from ${echo(address, 64)}${pooledBlock(address) ? ` or its /48` : ''} (MAX_CONNECTIONS_PER_ADDRESS=${deps.maxConnectionsPerAddress}${pooledBlock(address) ? `, ${IPV6_BLOCK_SHARE} times that per /48` : ''})`;
  // New connections per address, with the per-address cap on: a client that connects and closes in a
  // loop is not bounded by the cap (it holds one socket at a time), and each connect costs a first
  // message (an attacker-style probe measured 22 ms of an edge's CPU for a resume with 16 series).
  // The burst lets every socket the cap allows come back at once (an office behind one NAT after
  // losing its edge).
  const connects = deps.maxConnectionsPerAddress ? new AddressRateLimit({ perMinute: CONNECTS_PER_SECOND * 60, burst: Math.max(deps.maxConnectionsPerAddress, 64) }) : undefined;
  const refusedRate = metrics.counter('engine_ws_connect_rate_refused_total', `WebSocket upgrades refused with 429 because their address opened more than ${CONNECTS_PER_SECOND} a second after its burst`);
  const parsedSeries = new ParseMemo((spec: string | undefined, interval: string) => series.parse(spec, interval));
  const admission = new NodeAdmission(deps.maxClients ?? 0, deps.maxConnectsPerSecond ?? 0, () => sockets.size);
  const refusedNode = {
    server_full: metrics.counter('engine_ws_server_full_refused_total', 'WebSocket connections refused (503 to the upgrade, or error server_full and close 1013) because this node holds MAX_CLIENTS already'),
    server_busy: metrics.counter('engine_ws_connects_refused_total', 'WebSocket upgrades refused with 503 server_busy because this node took MAX_CONNECTS_PER_SECOND new connections a second, every address together, after its burst'),
  };
  const refusedOrigins = metrics.counter('engine_ws_origin_refused_total', 'WebSocket upgrades refused with 403 because their Origin is not in ALLOWED_ORIGINS');
  server.upgrade('/ws/:symbol', (req, res) => {
    const origin = req.headers.origin;
    // Only browsers send Origin (and cannot forge it); other clients are not what this guards against.
    if (deps.allowedOrigins.length && origin !== undefined && !deps.allowedOrigins.includes('*') && !deps.allowedOrigins.includes(origin)) {
      refusedOrigins();
      res.status(403).header('cache-control', 'no-store').json({ error: `origin ${echo(origin, 100)} is not allowed (ALLOWED_ORIGINS)` });
      return;
    }
    // The node's own bounds, before anything is made for the request (node-admission.ts).
    const refused = admission.admit();
    if (refused) {
      refusedNode[refused.code]();
      res.status(503).header('retry-after', String(refused.retryAfterSec)).header('cache-control', 'no-store').json({ error: refused.error, code: refused.code });
      return;
    }
    const address = clientAddress(req.ip, req.headers['x-forwarded-for'], deps.trustProxy ?? []);
    // Refused before the upgrade, where it costs least (the socket's own check below closes races).
    if (!perAddress.fits(address)) {
      refusedBusy();
      res.status(429).header('retry-after', '10').header('cache-control', 'no-store').json({ error: tooMany(address), code: 'too_many_connections' });
      return;
    }
    const query = singleQuery(req.query_parameters);
    const q = query.ok ? query.value : {};
    // A connect asking for derived series costs more of the ration (connect-cost.ts).
    const wait = connects?.take(address, connectCost(q.series)) ?? 0;
    if (wait > 0) {
      refusedRate();
      res.status(429).header('retry-after', String(wait)).header('cache-control', 'no-store').json({ error: `too many new connections from ${echo(address, 64)} (${CONNECTS_PER_SECOND} a second after a burst, with MAX_CONNECTIONS_PER_ADDRESS on; a connect with derived series counts 1 more per ${SERIES_PER_CONNECT_TOKEN} series); retry in ${wait} s`, code: 'rate_limited' });
      return;
    }
    // A parameter this route does not take is refused, not ignored (`?intervals=5m` served 1m), as on /candles.
    const unknown = query.ok ? Object.keys(q).find((k) => !WS_PARAMS.has(k)) : undefined;
    const checked =
      unknown !== undefined ? { ok: false as const, error: `unknown parameter '${echo(unknown, 40)}' (this route takes ${[...WS_PARAMS].join(', ')})` } : query.ok ? checkSeries(catalog, req.path_parameters.symbol ?? '', q.interval) : query;
    const wanted = checked.ok ? parsedSeries.get(q.series, checked.value.interval) : undefined;
    const resume = parseResume(q.epoch, q.since);
    // Upgrade even a bad request: the protocol answers it with an `error` message and close 4000.
    const context: WsContext = !checked.ok ? { error: checked.error, code: checked.code } : wanted && !wanted.ok ? { error: wanted.error } : !resume.ok ? { error: resume.error } : { ...checked.value, series: wanted?.ok ? wanted.value : [], refused: wanted?.ok ? wanted.refused : [], resume: resume.value };
    res.upgrade({ ...context, address });
  });

  // Client messages are only counted: handed over undecoded (hyper-express decodes each to a string by default).
  // uWS skips a socket over its cap (drops messages): the cap stays a limit above where the sweep closes
  // one at the latest (twice the limit and its snapshot's allowance), so a socket is closed and resyncs
  // before it loses any.
  server.ws('/ws/:symbol', { idle_timeout: 120, max_backpressure: deps.maxBackpressureBytes * 3 + MAX_SNAPSHOT_ALLOWANCE, max_payload_length: 4 * 1024, message_type: 'ArrayBuffer' }, (ws) => {
    const asked = ws.context as WsContext;
    if (asked.error || !asked.symbol || !asked.interval) {
      badRequest();
      ws.send(errorMessage(asked.error ?? 'bad request', asked.code));
      ws.close(CLOSE_BAD_REQUEST, 'bad request');
      return;
    }
    const ctx = asked as ValidContext;
    const address = ctx.address ?? '';
    const full = admission.full();
    if (full) {
      refusedNode.server_full();
      ws.send(errorMessage(full.error, full.code, full.retryAfterSec));
      ws.close(CLOSE_TRY_AGAIN, 'server full');
      return;
    }
    if (!perAddress.add(address)) return refuseBusy(ws, address);
    // Counted out on close, whenever it comes (also while the cluster's count is asked below).
    let gone = false;
    ws.once('close', () => {
      gone = true;
      const release = () => {
        perAddress.remove(address);
        deps.sharedConnections?.closed(address, perAddress.count(address));
      };
      if (notReading.has(ws)) heldSlots.hold(address, release);
      else release();
    });
    open(ws, ctx, address);
    // The cluster's count (every edge's sockets of the address) is asked while the socket is served,
    // not before: waiting for Redis delayed every first message, and in a burst the answer came after
    // short-lived clients had gone (their series never asked for). Over it, the socket is closed.
    void deps.sharedConnections?.opened(address, perAddress.count(address)).then((fits) => {
      if (!fits && !gone && !ws.closed) refuseBusy(ws, address);
    });
  });

  function refuseBusy(ws: HyperExpress.Websocket, address: string): void {
    refusedBusy();
    ws.send(errorMessage(tooMany(address), 'too_many_connections'));
    ws.close(CLOSE_TRY_AGAIN, 'too many connections');
  }

  /** Serves an accepted socket: its series' first message, then its topics. */
  function open(ws: HyperExpress.Websocket, ctx: ValidContext, address: string): void {
    const id = seriesId(ctx.symbol, ctx.interval);
    const { demand } = deps;
    sockets.add(ws);
    // Set once the socket follows its series topics, so a socket closed before that un-follows nothing.
    let instances: SeriesInstance[] = [];
    // The socket holds its derived series while it is open (released on close).
    let leases: SeriesLease[] = [];
    let following = false;
    let held = false;
    let closed = false;
    /** Aborted on close: a wait for a cold series' load goes with its socket (made only for one: not a cost per socket). */
    const coldWait: { left?: AbortController } = {};
    let variants: Array<{ def: string; label: string }> = [];
    // This socket's instances as counted for its address (label: series and parameters).
    let ownInstances: Array<{ def: string; label: string }> = [];
    // The derived series this socket is served, and those refused to it alone (a cap, a warm-up
    // this interval cannot give): the refused ones go in its first message as failed, with why.
    let serving = [...(ctx.series ?? [])];
    const refusedSeries: SeriesRefusal[] = [...(ctx.refused ?? [])];
    // Every refusal here is a cap: the client may ask again later (the warm-up ones came with the request).
    const refuseOne = (label: string, error: string) => {
      serving = serving.filter((r) => r.label !== label);
      refusedSeries.push({ label, error, retryAfterSec: SERIES_CAP_RETRY_SEC });
    };
    ws.on('close', () => {
      closed = true;
      sockets.delete(ws);
      sendBuffers.forget(ws);
      budget.forget(ws);
      lastHeard.delete(ws);
      pingsOut.delete(ws);
      bySeries.get(id.key)?.delete(ws);
      if (bySeries.get(id.key)?.size === 0) bySeries.delete(id.key);
      if (following) for (const inst of instances) hub.unfollow(inst.topic);
      if (held) demand?.release(id);
      coldWait.left?.abort();
      for (const l of leases) l.release();
      perAddressVariants.release(address, id.key, variants);
      for (const def of definitions(variants)) deps.sharedVariants?.variantsReleased(address, id.key, def, perAddressVariants.held(address, id.key, def));
      releaseInstances();
    });
    const inbound = new TokenBucket(INBOUND_PER_SECOND, INBOUND_BURST);
    let flooded = false;
    lastHeard.set(ws, Date.now());
    const inboundFrame = () => {
      if (flooded || closed || inbound.take()) return;
      flooded = true;
      floodClosed();
      ws.send(errorMessage('clients send no messages on this socket: closed after a stream of them (pings and pongs count)', 'client_messages'));
      ws.close(CLOSE_POLICY, 'clients send no messages');
    };
    ws.on('message', inboundFrame);
    // Control frames too: hyper-express hands each to JavaScript and uWS answers every ping, so a
    // flood of them cost the engine as much CPU as messages (1.8 M pings in 8 s: 6.6 s of CPU, found
    // by an attacker-style probe). A browser answers the server's rare pings; it sends none.
    ws.on('ping', inboundFrame);
    ws.on('pong', (payload: ArrayBuffer) => {
      inboundFrame();
      // Only a pong that echoes one of our pings proves the client reads (see the pinger).
      const out = pingsOut.get(ws);
      const i = out?.indexOf(Buffer.from(payload).toString('latin1')) ?? -1;
      if (i < 0) return;
      out!.splice(0, i + 1);
      lastHeard.set(ws, Date.now());
    });
    // `retryAfterSec`: when a refusal that passes (a rate, a capacity) may be tried again.
    const refuse = (message: string, code?: string, retryAfterSec?: number) => {
      ws.send(errorMessage(message, code, retryAfterSec));
      // A cluster with no leader passes (a client reconnects with its backoff); the rest is the request's fault.
      if (code === 'no_leader') ws.close(CLOSE_TRY_AGAIN, 'no leader: try again later');
      else ws.close(CLOSE_BAD_REQUEST, 'bad request');
    };
    // A derived series `acquire` refused with something other than a cap (an edge: a label that
    // cannot be a key): the request's fault. (A cap, SeriesBusyError, refuses that series alone.)
    const refuseSeries = (e: unknown) => {
      for (const l of leases) l.release();
      leases = [];
      if (closed) return;
      refuse((e as Error).message);
    };
    // Snapshot and subscribe in one synchronous turn: the pipeline updates the window before it
    // publishes, so no update can fall between the two (none lost, none duplicated). The turn is a
    // setImmediate (firstTurns'), not `open` itself: uWS corks `open`, and a snapshot bigger than the cork buffer
    // would leave a send buffer of its size attached to the socket for life (~80 KiB per client).
    // A client that moved here from an edge whose feed was ahead of this one's (its edge died) may
    // have seen updates not applied here yet: it waits for them (at most RESUME_CATCHUP_MS), then
    // resumes with what it missed, rather than take a fresh snapshot.
    const caughtUp = (go: () => void) => {
      const r = ctx.resume;
      const positions = deps.positions;
      if (!r || !positions?.behind?.(id, r.epoch, r.since)) return go();
      // A socket closed meanwhile ends its wait at the next poll.
      catchUps.wait(() => closed || !positions.behind!(id, r.epoch, r.since), RESUME_CATCHUP_MS, () => {
        if (!closed) go();
      });
    };
    // `later` runs the snapshot-and-subscribe turn: the next turn for a live series, a budgeted one for a cold one.
    const serve = (later: (turn: () => void) => void = (turn) => firstTurns.run(turn)) => {
      // Variants first: a series refused for them spends none of the address's ON_DEMAND_PER_MIN.
      // Per definition: the variants of one over its cap are refused alone, the rest served.
      const asked = serving.filter((r) => r.label !== r.def.name).map((r) => ({ def: r.def.name, label: r.label }));
      for (const def of definitions(asked)) {
        const mine = asked.filter((v) => v.def === def);
        // Held until close (released there, whatever ends the socket).
        if (!perAddressVariants.take(address, id.key, mine)) variants.push(...mine);
        else for (const v of mine) refuseOne(v.label, tooManyVariants(def));
      }
      // On an edge, the cluster's count for the address too (every edge's), then the rest.
      const shared = deps.sharedVariants;
      if (!variants.length || !shared) return share(later);
      const defs = definitions(variants);
      void Promise.all(defs.map((def) => shared.variantsTaken(address, id.key, def, perAddressVariants.held(address, id.key, def)))).then((fits) => {
        if (closed) return;
        defs.forEach((def, i) => {
          if (fits[i]) return;
          const mine = variants.filter((v) => v.def === def);
          variants = variants.filter((v) => v.def !== def);
          perAddressVariants.release(address, id.key, mine);
          shared.variantsReleased(address, id.key, def, perAddressVariants.held(address, id.key, def));
          for (const v of mine) refuseOne(v.label, tooManyVariants(def));
        });
        share(later);
      });
    };
    const releaseInstances = () => {
      if (!ownInstances.length) return;
      perAddressInstances.release(address, '', ownInstances);
      deps.sharedVariants?.instancesReleased(address, perAddressInstances.held(address, '', INSTANCES));
      ownInstances = [];
    };
    // The address's share of the instances (this node's count, then the cluster's), in the order
    // asked: those past it are refused alone.
    const share = (later: (turn: () => void) => void) => {
      for (const r of [...serving]) {
        const held = [{ def: INSTANCES, label: `${id.key} ${r.label}` }];
        if (perAddressInstances.take(address, '', held)) refuseOne(r.label, tooManyInstances);
        else ownInstances.push(...held);
      }
      const shared = deps.sharedVariants;
      if (!ownInstances.length || !shared) return ration(later);
      void shared.instancesTaken(address, perAddressInstances.held(address, '', INSTANCES)).then((fits) => {
        if (closed) return;
        if (!fits) {
          const refused = new Set(ownInstances.map((m) => m.label));
          releaseInstances();
          for (const r of [...serving]) if (refused.has(`${id.key} ${r.label}`)) refuseOne(r.label, tooManyInstances);
        }
        ration(later);
      });
    };
    const tooManyVariants = (def: string) => `at most ${MAX_VARIANTS_PER_ADDRESS} parameter variants of '${def}' on ${id.symbol} ${id.interval} from one address`;
    // New instances' ration for the address (this node's, then the cluster's), then acquire.
    const ration = (later: (turn: () => void) => void) => {
      const starting = serving.filter((r) => !series.status(r.label, id)).length;
      const wait = starting && instanceStarts ? instanceStarts.take(address, starting) : 0;
      if (wait > 0) return refuse(instancesRateLimited(wait), 'rate_limited', wait);
      // On an edge, the cluster's ration for the address too (every edge's), then as above.
      const shared = deps.sharedInstanceStarts;
      if (!starting || !shared) return acquire(later);
      void shared.take(address, starting).then((w) => {
        if (closed) return;
        if (w > 0) return refuse(instancesRateLimited(w), 'rate_limited', w);
        acquire(later);
      });
    };
    const acquire = (later: (turn: () => void) => void) => {
      try {
        // Derived series are built on the live window (their warm-up reads it). One at a cap
        // (variants of a definition, instances in all) is refused alone.
        for (const r of [...serving]) {
          try {
            leases.push(series.acquire(r, id, address));
          } catch (e) {
            if (!(e instanceof SeriesBusyError)) throw e;
            refuseOne(r.label, e.message);
          }
        }
      } catch (e) {
        return refuseSeries(e);
      }
      instances = leases.map((l) => l.instance);
      const begin = () => caughtUp(() => later(() => {
        if (ws.closed) return;
        // historical (derived series aligned to its candles) or, for a resume, recovered.
        const first = firstMessage({ id, window: store.window(id), hub, historyOnConnect: deps.historyOnConnect, positions: deps.positions, resume: ctx.resume, instances, refused: refusedSeries });
        const bytes = typeof first === 'string' ? Buffer.byteLength(first) : first.length;
        // An IPv6 client's share is its /48's: a site's 65,536 /64s would each have had one.
        const budgetKey = pooledBlock(address) ?? address;
        if (!budget.admit(budgetKey, bytes)) {
          budgetRefused();
          ws.send(errorMessage('this node holds too much unsent data for slow clients: try again shortly', 'server_busy', BUDGET_RETRY_SEC));
          ws.close(CLOSE_BAD_REQUEST, 'busy: try again shortly');
          return;
        }
        ws.send(first, false);
        budget.sent(ws, budgetKey, ws.buffered);
        sendBuffers.sentFirst(ws, bytes, MAX_SNAPSHOT_ALLOWANCE);
        ws.send(hub.statusFor(id));
        // Each topic's shard with room (a big topic's fan-out goes in turns).
        ws.subscribe(deps.topics.join(klineTopic(id)));
        ws.subscribe(deps.topics.join(STATUS_TOPIC));
        for (const inst of instances) {
          ws.subscribe(deps.topics.join(inst.topic));
          hub.follow(inst.topic);
        }
        following = true;
        let set = bySeries.get(id.key);
        if (!set) bySeries.set(id.key, (set = new Set()));
        set.add(ws);
      }));
      // Series still warming up (off the request path, in slices) are waited for; the snapshot follows.
      // One the cluster's leader refused at its caps (an edge's `ready`) is refused alone, as here.
      if (instances.every((inst) => inst.state !== 'warming')) begin();
      else {
        const busy = new Set<SeriesLease>();
        const settled = leases.map((l) =>
          l.ready.then(
            () => undefined,
            (e: unknown) => {
              if (!(e instanceof SeriesBusyError)) throw e;
              busy.add(l);
              refuseOne(l.instance.label, e.message);
            },
          ),
        );
        void Promise.all(settled).then(() => {
          for (const l of busy) l.release();
          leases = leases.filter((l) => !busy.has(l));
          instances = leases.map((l) => l.instance);
          begin();
        }, refuseSeries);
      }
      sent(2);
    };
    if (!demand) return serve();
    const live = demand.isLive(id);
    held = true;
    let settled = false;
    // Not live: the series is bootstrapped on demand; the client waits for it alone. `loading` once
    // the ask passed every check (on an edge, the cluster's ration too): a refusal known at once
    // (rate_limited, capacity) must not be preceded by a promise of data.
    const wanted = demand.want(
      id,
      ctx.address,
      undefined,
      () => {
        if (settled || closed) return;
        ws.send(loadingMessage(id.symbol, id.interval));
        sent(1);
      },
      live ? undefined : (coldWait.left = new AbortController()).signal,
    );
    if (live) return serve();
    wanted.then(
      (outcome) => {
        settled = true;
        if (!outcome.ok) {
          held = false;
          if (!closed) refuse(outcome.message, outcome.code, outcome.retryAfterSec);
        } else if (!closed) {
          // Its snapshot is serialized in one budgeted turn (cached: the send finds it unless the
          // series changed meanwhile) and sent in another, each about a millisecond of work.
          coldTurns.run(() => {
            if (closed) return;
            if (!ctx.resume) hub.snapshot(id, store.window(id), deps.positions?.position(id));
            serve((turn) => coldTurns.run(turn));
          });
        }
      },
      (e: unknown) => {
        settled = true;
        held = false;
        if (!closed) refuse(`could not load ${id.key}: ${(e as Error).message}`);
      },
    );
  }

  // Slow-client policy: a socket whose send buffer stays past the limit (over it at two sweeps in a
  // row without draining, or past twice it) is closed with 1013 so the client resyncs from a fresh
  // snapshot; uWS's own cap bounds memory in between. A burst a reading client takes in at once (a
  // derived series' points sent again after its rerun) is not a reason. A first message bigger than
  // the limit (many derived series) may stay buffered on top of it until the socket has drained below
  // the limit once: on a slow link it takes a while to go out, and closing the socket for it would
  // only bring the client back for the same snapshot, again and again.
  // Then all sockets together (SendBudget): one holding bytes it does not read is closed after
  // STUCK_MS, and past the node's total, or an address's share, those not draining go, the largest first.
  const sweep = setInterval(() => {
    const kept: Array<readonly [HyperExpress.Websocket, number]> = [];
    for (const ws of sockets) {
      const buffered = ws.buffered;
      if (!sendBuffers.tooSlow(ws, buffered)) {
        kept.push([ws, buffered]);
        continue;
      }
      slowDropped();
      sockets.delete(ws);
      ws.close(CLOSE_TRY_AGAIN, 'too slow: reconnect to resync');
    }
    const { stuck, over } = budget.sweep(kept, Date.now());
    for (const [list, count, why] of [[stuck, stuckClosed, 'not reading'], [over, budgetClosed, 'too much unsent: reconnect to resync']] as const) {
      for (const ws of list) {
        count();
        if (list === stuck) notReading.add(ws);
        sockets.delete(ws);
        sendBuffers.forget(ws);
        ws.close(CLOSE_TRY_AGAIN, why);
      }
    }
  }, 250);
  sweep.unref();

  // A client that does not read its socket: what it is sent sits in the kernel (about 1 MB of first
  // message each: uWS's buffer, and so the sweep above, see nothing), for as long as it keeps the
  // socket (an attacker-style probe held 256 such sockets from one address, ~225 MB of the host's TCP
  // memory, for minutes). Each socket is pinged now and then with a payload of its own; one that has
  // echoed none (a browser answers pings by itself, with their payload, even in a background tab) for
  // PING_TIMEOUT_MS is closed (1013). Any frame used to count: a client that never read but sent a pong
  // now and then kept 1,024 sockets and ~1 GB of the host's TCP memory (a later probe). A ping sits
  // behind what the socket was sent before it: it is read, and echoed, only by a client that reads.
  // A round goes in chunks, in turns of its own budget: 16,000 sockets pinged in one go held the
  // event loop 220-270 ms every round (an attacker-style probe, 64 addresses under their caps).
  const pingTurns = new TurnBudget(PING_TURN_MS);
  const pingEvery = Math.max(100, Math.floor(pingTimeoutMs / 3));
  // When this process last came back from a stall of its own (a VM paused, SIGSTOP, a long GC): the
  // pings it could not send, and the pongs it could not read meanwhile, are not the clients' silence.
  // An edge stopped 70 s closed every client it had as not reading (an attacker-style probe).
  // Noted at every round and every chunk: a chunk queued just before a stall runs right after it,
  // before the next round's timer.
  let lastPingWork = Date.now();
  let resumedAt = 0;
  const noteStall = (now: number) => {
    if (now - lastPingWork > 2 * pingEvery + 1000) resumedAt = now;
    lastPingWork = now;
  };
  const pingSome = (chunk: readonly HyperExpress.Websocket[]) => {
    const now = Date.now();
    noteStall(now);
    // One draw of random bytes for the chunk: a draw a socket cost a third of what its ping did.
    const random = randomBytes(PING_PAYLOAD_BYTES * chunk.length).toString('hex');
    chunk.forEach((ws, k) => {
      // Closed, or dropped by a sweep, since the round began.
      if (!sockets.has(ws)) return;
      if (now - Math.max(lastHeard.get(ws) ?? now, resumedAt) > pingTimeoutMs) {
        unanswered();
        notReading.add(ws);
        sockets.delete(ws);
        ws.close(CLOSE_TRY_AGAIN, 'pings unanswered: not reading');
        return;
      }
      const payload = random.slice(2 * PING_PAYLOAD_BYTES * k, 2 * PING_PAYLOAD_BYTES * (k + 1));
      const out = pingsOut.get(ws) ?? [];
      out.push(payload);
      if (out.length > PINGS_KEPT) out.shift();
      pingsOut.set(ws, out);
      ws.ping(payload);
    });
  };
  const pinger = setInterval(() => {
    noteStall(Date.now());
    // The previous round still going (a short PING_TIMEOUT_MS and many sockets): this one is skipped.
    if (pingTurns.pending > 0) return;
    const all = [...sockets];
    for (let i = 0; i < all.length; i += PING_CHUNK) {
      const chunk = all.slice(i, i + PING_CHUNK);
      pingTurns.run(() => pingSome(chunk));
    }
  }, pingEvery);
  pinger.unref();

  return {
    get clients() {
      return sockets.size;
    },
    endSeries(key, code, message) {
      for (const ws of bySeries.get(key) ?? []) {
        ws.send(errorMessage(message, code));
        ws.close(CLOSE_BAD_REQUEST, code);
      }
      bySeries.delete(key);
    },
    dropClients(code, reason) {
      for (const ws of [...sockets]) ws.close(code, reason);
      sockets.clear();
    },
    close() {
      clearInterval(sweep);
      clearInterval(pinger);
      heldSlots.clear();
      catchUps.clear();
    },
  };
}
