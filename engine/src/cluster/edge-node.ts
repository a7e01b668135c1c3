import { quitRedis } from '../store/quit-redis.ts';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { EMPTY } from 'rxjs';
import { Hub } from '../broadcast/hub.ts';
import { ALL_SYMBOLS, type Config, isUniverse, loadConfig } from '../config/config.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { createLogger, type Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { SeriesCatalog } from '../pipeline/series-catalog.ts';
import { checkPinnedIntervals, loadSeriesModules } from '../series/load-series.ts';
import { MAX_SERIES_PER_REQUEST, SeriesRegistry } from '../series/series-registry.ts';
import { instancesGauge, registryWiring } from '../series/registry-wiring.ts';
import { type EngineServer, serverSettings, startServer } from '../server/server.ts';
import { createMemoryBarStore } from '../store/memory-bar-store.ts';
import { EdgeFeed } from './edge-feed.ts';
import { EdgeConfigured } from './edge-configured.ts';
import { EdgeDemand } from './edge-demand.ts';
import { EdgeHistory } from './edge-history.ts';
import { instanceDemandKeys, leaseKeys } from './cluster-keys.ts';
import { SharedConnections } from './shared-connections.ts';
import { SharedRateLimit } from './shared-rate-limit.ts';
import { LeaderPresence, NO_LEADER_GRACE_MS } from './leader-presence.ts';
import { EdgeSeries } from './edge-series.ts';
import { DEMAND_TOUCH_MS } from './demand-member.ts';
import { parseExchangeInfo } from '../sources/exchange-info.ts';
import { EdgePositions } from './edge-positions.ts';
import { nodeInfo } from './node-info.ts';
import { reconnectWhenHung } from './hang-reconnect.ts';
import { RedisWatch } from './redis-watch.ts';
import { CLUSTER_REDIS_MAJOR } from '../store/check-redis-database.ts';
import { ChannelSubscriptions } from './channel-subscriptions.ts';
import { startWaitingServer, type WaitingServer } from '../server/waiting-server.ts';
import { MAX_VARIANTS_PER_ADDRESS, instancesPerAddress } from '../server/ws-route.ts';
import { shownUrl } from '../server/shown-url.ts';

export interface EdgeNode {
  readonly url: string;
  readonly feed: EdgeFeed;
  readonly metrics: Metrics;
  readonly demand: EdgeDemand;
  dropClients(code?: number): void;
  stop(): Promise<void>;
}

/**
 * ROLE=edge: HTTP and WebSocket for clients, no upstream of its own. Every configured series is
 * followed from Redis (EdgeFeed: subscribe, atomic snapshot, merge by offset, repair holes) into
 * local hot windows and positions, and fanned out by uWS topics exactly as in ROLE=all; resumes are
 * answered from the leader's offsets, so a client can resume on any edge. Derived series are not
 * computed here: the leader computes each instance once and edges follow its points (EdgeSeries).
 */
export async function startEdge(options: Partial<Config> & { redisUrl: string; log?: Logger; redisKeyPrefix?: string }): Promise<EdgeNode> {
  const config: Config = { ...loadConfig({}), ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)), role: 'edge' } as Config;
  const log = options.log ?? createLogger(config.logLevel);
  const prefix = options.redisKeyPrefix ?? '';
  const metrics = new Metrics();
  nodeInfo(metrics, config.nodeId, 'edge');
  const connect = (extra: RedisOptions = {}) => {
    const r = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(100 * n, 1000), ...extra });
    r.on('error', () => {}); // reflected in /health and repaired on reconnect
    return r;
  };
  const redis = connect();
  // Its subscriptions are restored by their owners (ChannelSubscriptions), not twice by ioredis too.
  const subscriber = connect({ autoResubscribe: false });
  // The cluster-wide per-address checks (new series, connections) on a connection of their own: on the
  // shared one they waited behind snapshot reads (in a burst of cold series, for longer than a client
  // stayed).
  const limits = connect();
  // A Redis not there yet (a cluster starting together, a wrong REDIS_URL) is waited for, and said.
  const watch = new RedisWatch(redis, (l, m) => log[l](m), config.redisCommandTimeoutMs, CLUSTER_REDIS_MAJOR);
  const hangs = reconnectWhenHung({ commands: redis, subscriber, limits }, config.redisCommandTimeoutMs, (l, m) => log[l](m));
  // Until the edge serves, its port says it is alive and starting, and why (not a closed port).
  let starting = 'connecting to redis';
  const waiting = await startWaitingServer({
    host: config.host,
    port: config.port,
    health: () => ({ notReady: [watch.error ? `redis unreachable: ${watch.error}` : starting], role: 'edge', node: config.nodeId }),
  });
  try {
    await watch.ready();
    starting = 'series loading';
    return await serve({ config, log, prefix, metrics, redis, subscriber, limits, watch, hangs, waiting });
  } catch (e) {
    waiting.close();
    subscriber.disconnect();
    limits.disconnect();
    redis.disconnect();
    watch.stop();
    hangs.stop();
    throw e;
  }
}

/** What the edge made before Redis answered. */
interface Started {
  config: Config;
  log: Logger;
  prefix: string;
  metrics: Metrics;
  redis: Redis;
  subscriber: Redis;
  /** For the cluster-wide per-address checks (not behind snapshot reads). */
  limits: Redis;
  watch: RedisWatch;
  /** Reconnects a connection gone silent. */
  hangs: { stop(): void };
  waiting: WaitingServer;
}

/**
 * The edge once Redis answers: follows its series, then serves on the waiting server's port. A start
 * that fails on the way (a SERIES_DIR module it cannot run, a port taken) stops what it made: the
 * caller closes the connections alone, and the feed's position check, the status and leader timers
 * and their listeners ran on for the life of the process (a leak review: 3 intervals left set).
 */
async function serve(started: Started): Promise<EdgeNode> {
  const undo: Array<() => void> = [];
  try {
    return await serveWith(started, undo);
  } catch (e) {
    for (const stop of undo.reverse()) stop();
    throw e;
  }
}

/** `serve`, each thing it makes with a stop put in `undo` as it is made. */
async function serveWith({ config, log, prefix, metrics, redis, subscriber, limits, watch, hangs, waiting }: Started, undo: Array<() => void>): Promise<EdgeNode> {
  const store = createMemoryBarStore({ bufferSize: config.bufferSize });
  const hub = new Hub(config.historyOnConnect, 'cluster');
  const symbols = isUniverse(config.symbols) ? ALL_SYMBOLS : config.symbols;
  const catalog = new SeriesCatalog(symbols, config.intervals, 'cluster', config.bufferSize);
  const positions = new EdgePositions({ updates: config.resumeUpdates, maxAgeMs: config.resumeMaxAgeMs, totalUpdates: config.resumeTotalUpdates }, Date.now, (id) => catalog.isConfigured(id.symbol) && config.intervals.includes(id.interval));
  const malformed = metrics.counter('engine_cluster_malformed_total', 'Malformed members, entries or messages read from Redis (skipped)');
  const late: { server?: EngineServer; demand?: EdgeDemand } = {};
  const feed = new EdgeFeed({
    redis,
    subscriber,
    keyPrefix: prefix,
    store,
    hub,
    positions,
    bufferSize: config.bufferSize,
    historyMaxAgeMs: config.resumeMaxAgeMs,
    onMalformed: (n) => malformed(n),
    log: (l, m) => log[l](m),
    // An on-demand series' clients wait for its first snapshot: served as it comes.
    onReset: (id) => late.demand?.loaded(id),
  });
  undo.push(() => feed.stop());
  const repairs = metrics.gauge('engine_cluster_repairs', 'History reads by this edge (holes repaired, catch-ups after a resubscribe)');
  const reloads = metrics.gauge('engine_cluster_reloads', 'Series this edge reloaded from a snapshot (hole beyond the history, new epoch)');
  metrics.onCollect(() => {
    repairs(feed.repairs);
    reloads(feed.reloads);
  });
  const release = (id: SeriesId) => {
    store.release(id);
    hub.dropSnapshot(id);
    positions.release(id);
  };
  const configured = new EdgeConfigured({
    symbols,
    intervals: config.intervals,
    feed,
    ended: (id, message) => late.server?.endSeries(id.key, 'symbol_not_trading', message),
    isTrading: (symbol) => catalog.isTrading(symbol),
    free: release,
    warn: (message) => log.warn(message),
  });
  await configured.start();
  // The configured series decide readiness and the status badge; on-demand ones load on their own.
  // A series no leader has written yet has no history to serve (reproduced: a client of a new
  // cluster's edge got a `historical` of 0 bars while the leader was still to write the REST history).
  const configuredLoaded = () => configured.ready(catalog.marketsLoaded);
  // No ingest node leading (both gone, or none started) for longer than a failover takes: nothing new
  // is written, so clients are told `stale` (the edge still serves what Redis has).
  const keys = leaseKeys(prefix);
  const leader = new LeaderPresence({ redis, leaseKey: keys.lease, upstreamKey: keys.upstream, seriesStatusKey: keys.seriesStatus, graceMs: Math.max(NO_LEADER_GRACE_MS, 2 * config.leaseTtlMs) });
  undo.push(() => leader.stop());
  // With a leader, what its upstream does: the edge has none of its own to tell.
  // A Redis that hangs delivers nothing new either: `stale`, as with no leader.
  const upstream = () => {
    // With the series whose own stream is silent or connection down on the leader, in one step.
    hub.setStatus(subscriber.status !== 'ready' || !configuredLoaded() ? 'reconnecting' : !leader.present || watch.error !== undefined ? 'stale' : (leader.upstream ?? 'live'), leader.seriesStatus);
  };
  const leaderPresentGauge = metrics.gauge('engine_cluster_leader_present', 'Whether an ingest node leads, as this edge sees it (1), or none has for longer than a failover takes (0)');
  metrics.onCollect(() => leaderPresentGauge(leader.present ? 1 : 0));
  const statusTimer = setInterval(upstream, 500);
  statusTimer.unref();
  undo.push(() => clearInterval(statusTimer));

  const defs = config.seriesDir ? await loadSeriesModules(config.seriesDir) : [];
  // As ROLE=all and the leader: a series pinned to an interval not served here could never run.
  checkPinnedIntervals(defs, config.intervals, config.seriesDir);
  // Parses clients' requests and computes GET /series ranges over the window; it runs no instance
  // (engine_series_instances stays 0 here): those the leader computes, and edges follow their points.
  // Older bars for a range's candles and warm-up, and for clients' history pages: those Redis keeps
  // (the edge's window is their newest part), then older ones asked of the leader.
  const history = new EdgeHistory({ redis, subscriber, keys, keyPrefix: prefix, node: config.nodeId, bufferSize: config.bufferSize, onMalformed: (n) => malformed(n) });
  undo.push(() => history.stop());
  await history.start();
  const registry = new SeriesRegistry(defs, {
    ...registryWiring({ bufferSize: config.bufferSize, log, metrics, store, bars$: () => EMPTY, hub, positions }),
    olderBars: history.olderBars,
  });
  undo.push(() => registry.stop());
  instancesGauge(metrics, () => registry.instanceCount);

  // Which symbols trade: the leader's markets from Redis, re-read when the leader says they changed
  // (a message on the markets channel) and every 30 s. A symbol that stopped trading ends its series here.
  const message = (symbol: string) => `symbol ${symbol} stopped trading on the exchange`;
  const readMarkets = async () => {
    let removed: string[];
    try {
      const text = await redis.get(keys.markets);
      if (text === null) return;
      const body: unknown = JSON.parse(text);
      ({ removed } = catalog.setMarkets(parseExchangeInfo(body).markets));
      const source = (body as { source?: unknown }).source;
      // Only the names an exchange can have (a leader of an older version writes none: `cluster` stays).
      if (source === 'binance' || source === 'sim' || source === 'replay') {
        catalog.setSource(source);
        hub.setSource(source);
      }
    } catch {
      return void malformed(1); // unreadable or malformed: the previous markets stay
    }
    for (const symbol of removed) {
      log.warn(`${message(symbol)}: its series end on this edge`);
      late.demand?.endSymbol(symbol, message(symbol));
    }
    // With SYMBOLS=*, the universe's series are followed as the markets list them.
    await configured.marketsRead(catalog.symbols(), removed, message).catch((e: Error) => log.warn(`following the markets' series failed (tried again with the next read): ${e.message}`));
  };
  await readMarkets();
  const marketsTimer = setInterval(() => void readMarkets(), 30_000);
  marketsTimer.unref();
  undo.push(() => clearInterval(marketsTimer));
  const onMarkets = (channel: string) => {
    if (channel === keys.markets) void readMarkets();
  };
  subscriber.on('message', onMarkets);
  undo.push(() => subscriber.off('message', onMarkets));
  // Markets changed while the connection was away are read again.
  const marketsChannel = new ChannelSubscriptions(subscriber, () => void readMarkets());
  undo.push(() => marketsChannel.stop());
  await marketsChannel.add(keys.markets);
  const sharedUnanswered = metrics.counter('engine_cluster_shared_rate_unanswered_total', "New series (on-demand, derived) let through on the edge's own ON_DEMAND_PER_MIN ration alone: Redis did not answer for the cluster's");
  const demand = (late.demand = new EdgeDemand({
    redis,
    subscriber,
    keys,
    node: config.nodeId,
    catalog,
    configured: (id) => configured.has(id),
    feed,
    free: release,
    maxSeries: config.maxOnDemandSeries,
    idleMs: config.idleSeriesMs,
    touchEveryMs: DEMAND_TOUCH_MS,
    answerTimeoutMs: 60_000,
    leaderPresent: () => leader.present,
    perMinute: config.onDemandPerMinute,
    sharedStarts: new SharedRateLimit(limits, {
      keyPrefix: keys.startRate,
      perMinute: config.onDemandPerMinute,
      burst: Math.max(1, Math.ceil(config.onDemandPerMinute / 2)),
      onUnanswered: sharedUnanswered,
    }),
    ended: (id, code, message) => late.server?.endSeries(id.key, code, message),
    log: (l, m) => log[l](m),
  }));
  undo.push(() => demand.stop());

  const derived = new EdgeSeries({
    redis,
    subscriber,
    keyPrefix: prefix,
    bufferSize: config.bufferSize,
    historyMaxAgeMs: config.resumeMaxAgeMs,
    registry,
    keys: instanceDemandKeys(prefix),
    node: config.nodeId,
    hub,
    positions,
    catalog,
    maxInstances: config.maxSeriesInstances,
    idleMs: config.idleSeriesMs,
    touchEveryMs: DEMAND_TOUCH_MS,
    onMalformed: (n) => malformed(n),
    log: (l, m) => log[l](m),
  });
  undo.push(() => derived.stop());
  const followedInstances = metrics.gauge('engine_cluster_series_followed', 'Derived series instances this edge follows from the cluster (computed by the leader)');
  metrics.onCollect(() => followedInstances(derived.size));

  const health = () => {
    const notReady: string[] = [];
    const reachable = redis.status === 'ready' && watch.error === undefined;
    if (!reachable || subscriber.status !== 'ready') notReady.push(watch.error ? `redis unreachable: ${watch.error}` : 'redis unreachable');
    if (watch.versionProblem) notReady.push(watch.versionProblem);
    const configuredWaits = configured.notReady(catalog.marketsLoaded);
    if (configuredWaits) notReady.push(configuredWaits);
    // Not a reason to take this edge out of a balancer (every edge sees the same, and serving what
    // Redis has beats serving nothing): said in `warnings`, and to clients as `stale`.
    const warnings = [
      ...(!leader.present
        ? [`no ingest node has led for ${Math.round(leader.lastSeenMsAgo() / 1000)} s: nothing new is written`]
        : leader.upstream && leader.upstream !== 'live'
          ? [`the leader's upstream is ${leader.upstream}`]
          : []),
      ...watch.warnings,
    ];
    return {
      status: notReady.length ? 'degraded' : 'ok',
      notReady,
      warnings,
      role: 'edge',
      leader: { present: leader.present, lastSeenMsAgo: leader.lastSeenMsAgo(), upstream: leader.upstream ?? null },
      node: config.nodeId,
      source: catalog.source(),
      redis: { reachable, subscribed: subscriber.status === 'ready' },
      series: feed.size,
      onDemand: demand.counts(),
      markets: catalog.marketsLoaded ? catalog.symbols().length : null,
      // As an ingest node's bootstrap says them.
      rejectedSymbols: catalog.marketsLoaded ? configured.notTrading() : [],
      repairs: feed.repairs,
      reloads: feed.reloads,
      derived: { followed: derived.size, reloads: derived.feed.reloads },
    };
  };

  // MAX_CONNECTIONS_PER_ADDRESS for every edge together (each edge's own cap still holds alone).
  const sharedConnections =
    config.maxConnectionsPerAddress > 0
      ? new SharedConnections(limits, {
          keyPrefix: keys.connections,
          alivePrefix: keys.connectionsAlive,
          // This process's own id: a restart under the same NODE_ID (a container's host name) does
          // not take on what the one before left (counted until its heartbeat expires).
          node: `${config.nodeId}.${randomBytes(4).toString('hex')}`,
          limit: config.maxConnectionsPerAddress,
          variantsPrefix: keys.variants,
          variantsLimit: MAX_VARIANTS_PER_ADDRESS,
          instancesLimit: instancesPerAddress(config.maxSeriesInstances),
          onUnanswered: metrics.counter('engine_cluster_shared_connections_unanswered_total', "WebSocket connections let in on the edge's own MAX_CONNECTIONS_PER_ADDRESS alone: Redis did not answer for the cluster's"),
        })
      : undefined;
  undo.push(() => sharedConnections?.stop());
  waiting.close();
  const server: EngineServer = (late.server = await startServer({
    sharedConnections,
    sharedVariants: sharedConnections,
    ...serverSettings(config),
    port: waiting.port,
    series: derived,
    catalog,
    demand,
    store,
    hub,
    metrics,
    log,
    health,
    positions,
    sharedInstanceStarts: new SharedRateLimit(limits, {
      keyPrefix: keys.instanceStartRate,
      perMinute: config.onDemandPerMinute,
      burst: Math.max(MAX_SERIES_PER_REQUEST, Math.ceil(config.onDemandPerMinute / 2)),
      onUnanswered: sharedUnanswered,
    }),
    // Older pages: the cluster's sorted set, then the leader (an edge has no exchange connection of its own).
    olderBars: (symbol, interval, endTime, limit, address) => history.olderBars(seriesId(symbol, interval), endTime, limit, address),
  }));
  const url = shownUrl(config.host, server.port);
  log.info(`edge ${config.nodeId} listening on ${url}`, { series: configured.size });

  let stopped: Promise<void> | undefined;
  return {
    url,
    feed,
    metrics,
    demand,
    dropClients: (code = 1012) => server.dropClients(code, 'dropped'),
    stop: () =>
      (stopped ??= (async () => {
        server.stopListening();
        clearInterval(statusTimer);
        leader.stop();
        clearInterval(marketsTimer);
        subscriber.off('message', onMarkets);
        marketsChannel.stop();
        derived.stop();
        demand.stop();
        history.stop();
        feed.stop();
        registry.stop();
        server.dropClients(1001, 'server shutting down');
        sharedConnections?.stop();
        hangs.stop();
        subscriber.disconnect();
        watch.stop();
        await Promise.all([quitRedis(redis), quitRedis(limits)]);
        log.info('edge stopped');
      })()),
  };
}
