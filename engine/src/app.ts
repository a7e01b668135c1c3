import { Hub, type SeriesStatus, type UpstreamState } from './broadcast/hub.ts';
import { uwsBuild } from './broadcast/uws-build.ts';
import { type Config, loadConfig } from './config/config.ts';
import type { Bar } from './domain/bar.ts';
import type { SeriesId } from './domain/series-id.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { engineHealth } from './pipeline/engine-health.ts';
import { pipelineMetrics } from './pipeline/engine-metrics.ts';
import { connectMarket } from './pipeline/market-connection.ts';
import type { SeriesCatalog } from './pipeline/series-catalog.ts';
import { startSeriesFeed } from './pipeline/series-feed.ts';
import type { SeriesLifecycle } from './pipeline/series-lifecycle.ts';
import { checkPinnedIntervals, loadSeriesModules } from './series/load-series.ts';
import { SeriesRegistry, type SeriesRegistryDeps } from './series/series-registry.ts';
import { instancesGauge, registryWiring } from './series/registry-wiring.ts';
import { olderBarsSource } from './server/older-bars.ts';
import { type EngineServer, serverSettings, startServer } from './server/server.ts';
import type { HoldWhileConfig } from './pipeline/hold-while.ts';
import type { ConnectLimiter } from './sources/connect-limiter.ts';
import type { StreamShards } from './sources/stream-shards.ts';
import type { BarStore } from './store/bar-store.ts';
import { createMemoryBarStore } from './store/memory-bar-store.ts';
import { createRedisBarStore } from './store/redis-bar-store.ts';
import { checkRedisDatabase } from './store/check-redis-database.ts';
import { storeGauges } from './store/store-gauges.ts';
import type { SimExchange, SimOptions } from '../sim/sim-exchange.ts';
import { MemoryPositions } from './cluster/memory-positions.ts';
import { nodeInfo } from './cluster/node-info.ts';
import type { ReplayExchange } from './record/replay-exchange.ts';
import { openReplayNamespace, type ReplayNamespace } from './record/replay-namespace.ts';
import type { Recorder } from './record/recorder.ts';
import type { FirstRecordedBar } from './server/before-recording.ts';
import { shownUrl } from './server/shown-url.ts';

export interface AppOptions extends Partial<Config> {
  simOptions?: SimOptions;
  log?: Logger;
  /** Key prefix in Redis (tests isolate themselves with it). */
  redisKeyPrefix?: string;
  /** Subscribers of a topic one turn's fan-out sends to (server.ts's TOPIC_SHARD_SIZE; specs use a few). */
  topicShardSize?: number;
  /** How long an HTTP read waits for a cold series (when-live.ts's HTTP_LOAD_WAIT_MS; specs shorten it). */
  httpLoadWaitMs?: number;
  /** How often the catalog follows the exchange's markets (default hourly; tests shorten it). */
  catalogRefreshMs?: number;
  /** How often the symbols that stopped trading are asked after (default 5 min). */
  stoppedRecheckMs?: number;
  /**
   * ROLE=ingest (issue 13): every update goes to this (the cluster's fenced writer publishes it) and
   * to the local hub without a position, and /health carries what `health` adds (role, node, leader). `series`
   * replaces how derived series learn who listens and where their points go (the leader computes
   * the instances edges ask for and writes their points into the cluster). `connectLimiter` counts
   * the upstream's connection attempts (the ingest nodes share one budget: shared-connect-limiter.ts).
   * `holdUpstream`: the upstream's events wait while it says so (a standby: hold-while.ts).
   */
  cluster?: { connectLimiter?: ConnectLimiter; holdUpstream?: HoldWhileConfig; publish(id: SeriesId, bar: Bar): void; freed?(id: SeriesId): void; live?(id: SeriesId): void; upstream?(state: UpstreamState): void; seriesStatus?(list: readonly SeriesStatus[]): void; health(): Record<string, unknown>; series?: Pick<SeriesRegistryDeps, 'listening' | 'listenersVersion' | 'onPoint' | 'onState'> };
}

export interface App {
  readonly url: string;
  readonly config: Config;
  readonly sim?: SimExchange;
  readonly replay?: ReplayExchange;
  /** RECORD_FILE's recorder, when set. */
  readonly recorder?: Recorder;
  readonly registry: SeriesRegistry;
  readonly store: BarStore;
  readonly metrics: Metrics;
  /** Resolves when every configured series is bootstrapped (or rejected). */
  readonly ready: Promise<void>;
  /** What the exchange trades and what is configured. */
  readonly catalog: SeriesCatalog;
  /** Series started and stopped (configured and on demand); the in-process SeriesDemand. */
  readonly lifecycle: SeriesLifecycle;
  /** Upstream connections and their streams. */
  readonly shards: StreamShards;
  /**
   * Bars older than the store, from the exchange, as clients' history and derived-series ranges get
   * them (client priority, coalesced, cached, rate-limited per address; a custom interval from its
   * source's bars). A cluster's leader answers edges' asks with it.
   */
  olderBars(id: SeriesId, endTime: number, limit: number, address?: string): Promise<Bar[]>;
  dropClients(code?: number): void;
  stop(): Promise<void>;
}

/**
 * The composition root of ROLE=all (and of an ingest node, with `cluster`): the market connection
 * (market-connection.ts), the store, the series feed (series-feed.ts: upstream, per-series pipelines,
 * persist then publish), the hub with its positions, derived series, and the server. Each part owns
 * its subscriptions; `stop` releases them in shutdown order.
 */
export async function startApp(options: AppOptions = {}): Promise<App> {
  const { simOptions, log: givenLog, redisKeyPrefix, catalogRefreshMs = 3_600_000, stoppedRecheckMs, cluster, topicShardSize, httpLoadWaitMs, ...overrides } = options;
  const config: Config = { ...loadConfig({}), ...stripUndefined(overrides) };
  const log = givenLog ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const counters = pipelineMetrics(metrics);
  nodeInfo(metrics, config.nodeId, config.role);

  // Before anything starts: a database Redis refuses fails the start (ConfigError); a Redis not
  // answering does not (the engine serves from memory and catches Redis up).
  const redisAnswered = config.redisUrl ? await checkRedisDatabase(config.redisUrl, 3000) : false;
  // (A replay is refused then instead: it must empty its namespace first; see below.)
  if (config.redisUrl && !redisAnswered && config.source !== 'replay') log.warn('redis not reachable at start: serving from memory until it answers');
  // User code first: a series module that fails, loops or exhausts memory at import stops the start
  // here, naming its file, before any connection is opened.
  const defs = config.seriesDir ? await loadSeriesModules(config.seriesDir) : [];
  // A series pinned to an interval not served here could never run (only INTERVALS are served, on
  // demand too): refused now. A replay's intervals are its recording's, known once it is open.
  if (config.source !== 'replay') checkPinnedIntervals(defs, config.intervals, config.seriesDir);

  // --- the market: the exchange (Binance, the built-in simulator or a recording), REST, catalog ---
  const market = await connectMarket({ config, log, metrics, counters, simOptions });
  if (config.source === 'replay') {
    try {
      checkPinnedIntervals(defs, config.intervals, config.seriesDir);
    } catch (e) {
      await market.close();
      throw e;
    }
  }
  const { exchange, catalog } = market;
  const source = exchange.kind;
  const storeMetrics = { barsWritten: (n: number) => counters.candlesWritten(n), writeErrors: (n: number) => counters.storeErrors(n) };
  // A replay keeps its series under a namespace of its own, never the live run's keys.
  let namespace: ReplayNamespace | undefined;
  if (exchange.replay && config.redisUrl) {
    try {
      namespace = await openReplayNamespace({ url: config.redisUrl, reachable: redisAnswered, recordedAt: exchange.replay.recordedAt, base: redisKeyPrefix, log });
    } catch (e) {
      await market.close();
      throw e;
    }
  }
  const keyPrefix = namespace?.prefix ?? redisKeyPrefix;
  const store: BarStore = config.redisUrl
    ? createRedisBarStore({ url: config.redisUrl, bufferSize: config.bufferSize, keyPrefix, fence: namespace?.fence, commandTimeoutMs: config.redisCommandTimeoutMs, metrics: storeMetrics, log: (l: 'info' | 'warn' | 'error', m: string) => log[l](m) })
    : createMemoryBarStore({ bufferSize: config.bufferSize, metrics: storeMetrics });
  const hub = new Hub(config.historyOnConnect, source);
  storeGauges(metrics, store, () => hub.snapshotCache);
  // Epoch and offset per series, and the recent history a reconnecting client resumes from (issue 13).
  const positions = new MemoryPositions({ updates: config.resumeUpdates, maxAgeMs: config.resumeMaxAgeMs, totalUpdates: config.resumeTotalUpdates }, Date.now, (id) => catalog.isConfigured(id.symbol) && config.intervals.includes(id.interval));

  // --- series: upstream shards routed to per-series pipelines, persisted, then published --------
  // The registry and server are built after the feed (they read it); the feed calls them once it runs.
  const late: { server?: EngineServer; registry?: SeriesRegistry } = {};
  const feed = startSeriesFeed({
    config,
    log,
    metrics,
    counters,
    market,
    store,
    catalogRefreshMs,
    stoppedRecheckMs,
    limiter: cluster?.connectLimiter,
    holdUpstream: cluster?.holdUpstream,
    // ROLE=ingest: the cluster's fenced writer positions every bar and publishes it to the edges; this
    // node's own clients (its port serves them too) get it without a position: they resume on an edge.
    // (Before, they got none: a chart froze reading `live`, and each resume was an empty `recovered`.)
    publish: (id, bar) => {
      if (!cluster) return hub.publishBar(id, bar, positions.append(id, bar));
      cluster.publish(id, bar);
      hub.publishBar(id, bar);
    },
    freed: (id) => {
      late.registry?.releaseSeries(id);
      hub.dropSnapshot(id);
      positions.forget(id);
      cluster?.freed?.(id);
    },
    ended: (id, code, message) => late.server?.endSeries(id.key, code, message),
    live: (id) => cluster?.live?.(id),
    upstreamChanged: (s, series) => {
      hub.setStatus(s.state, series);
      cluster?.upstream?.(s.state);
      cluster?.seriesStatus?.(series);
    },
  });
  const { lifecycle, shards } = feed;

  // --- derived series from SERIES_DIR: computed once per (series, params, symbol, interval) ------
  // Bars older than the store take the path GET /candles takes (a warm-up counts against the address that started the instance; restarts against one of their own).
  const older = olderBarsSource({ config, rest: market.rest, catalog, metrics });
  const registry = (late.registry = new SeriesRegistry(defs, {
    olderBars: older.ofSeries,
    // An ingest node's points go out without a position, as its candles do (a made-up epoch before).
    ...registryWiring({ bufferSize: config.bufferSize, log, metrics, store, bars$: feed.bars$, repairs$: feed.repairs$, hub, positions: cluster ? undefined : positions }),
    maxInstances: config.maxSeriesInstances,
    // As loadConfig resolves it (main passes it so); a caller naming only its source gets a replay's default too.
    liveShare: overrides.seriesLiveShare ?? (config.source === 'replay' ? 1 : config.seriesLiveShare),
    ...cluster?.series,
  }));
  instancesGauge(metrics, () => registry.instanceCount);
  if (defs.length) log.info(`derived series loaded: ${defs.map((d) => d.name).join(', ')}`, { dir: config.seriesDir });

  // --- clients: HTTP routes and the WebSocket route -------------------------------------------
  const baseHealth = engineHealth({
    source,
    upstream: feed.upstream,
    replay: exchange.replay ? () => feed.replay()! : undefined,
    shards: () => shards.stats(),
    store: () => store.health(),
    configured: () => lifecycle.pinnedProgress(),
    rejectedSymbols: () => catalog.rejected,
    series: () => lifecycle.counts(),
    derivedModules: defs.length,
    staleAfterMs: config.staleAfterMs,
  });
  const health = () => {
    const base = baseHealth();
    const { notReady: clusterNotReady, ...clusterParts } = cluster?.health() ?? {};
    // What the cluster part still misses (an ingest leader writing history to Redis) counts too.
    const notReady = [...(base.notReady as string[]), ...((clusterNotReady as string[] | undefined) ?? [])];
    return { ...base, role: config.role, node: config.nodeId, ...clusterParts, notReady, status: notReady.length ? 'degraded' : base.status };
  };
  // A start that fails here (the port taken, say) releases what it opened: a replay's Redis slot was
  // renewed for good by an in-process caller's leftover timer (main.ts exits; specs and tools go on).
  const failed = async (e: unknown): Promise<never> => {
    feed.stop();
    registry.stop();
    feed.endBars();
    await store.close();
    await namespace?.drop();
    await market.close();
    throw e;
  };
  const server = (late.server = await startServer({
    ...serverSettings(config),
    series: registry,
    catalog,
    demand: lifecycle,
    store,
    hub,
    metrics,
    log,
    health,
    // An ingest node's positions are the cluster's (in Redis, for the edges): none on its own port.
    positions: cluster ? undefined : positions,
    olderBars: older.page,
    // A replay knows where its recording starts: older pages are not "no data" (http-routes.ts).
    recording: exchange.replay ? { firstBar: (id) => firstRecordedBar(exchange.replay!, catalog.sourceOf(id) ?? id) } : undefined,
    topicShardSize,
    httpLoadWaitMs,
  }).catch(failed));

  const build = uwsBuild();
  const url = shownUrl(config.host, server.port);
  (build === 'native' ? log.info : log.warn)(`uWebSockets.js build: ${build}${build === 'native' ? '' : ' (slow JS fallback: the native binary did not load)'}`);
  const configured = catalog.configured();
  log.info(`engine listening on ${url}`, { source, series: catalog.nativeSeries().length, store: store.kind, symbols: market.universe ? `* (${configured.length})` : configured.length });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // Shutdown order: stop accepting, close upstream and pipelines, flush the store, close clients.
      server.stopListening();
      // Pipelines first (their teardown aborts REST fills), then the sockets upstream.
      feed.stop();
      registry.stop();
      feed.endBars();
      await store.close();
      server.dropClients(1001, 'server shutting down');
      // Flushed: a replay's keys go (a killed one's are deleted by a later replay of its recording: replay-slot.ts).
      await namespace?.drop();
      await market.close();
      log.info('engine stopped');
    })());

  return {
    url,
    config,
    sim: exchange.sim,
    replay: exchange.replay,
    recorder: market.recorder,
    registry,
    store,
    metrics,
    ready: feed.ready,
    catalog,
    lifecycle,
    shards,
    olderBars: older.ofSeries,
    dropClients: (code = 1012) => server.dropClients(code, 'dropped'),
    stop,
  };
}

/** The oldest bar a replay's recording holds of a native series, with its interval. */
function firstRecordedBar(replay: ReplayExchange, native: SeriesId): FirstRecordedBar | undefined {
  const openTime = replay.firstBar(native.symbol, native.interval);
  return openTime === undefined ? undefined : { openTime, interval: native.interval };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}


