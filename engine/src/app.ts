import { concatMap, defer, retry, Subject, tap, timer } from 'rxjs';
import { Hub } from './broadcast/hub.ts';
import { uwsBuild } from './broadcast/uws-build.ts';
import { type Config, isUniverse, loadConfig } from './config/config.ts';
import type { Bar } from './domain/bar.ts';
import type { SeriesId } from './domain/series-id.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { loadSeries$ } from './pipeline/bootstrap.ts';
import { catalogRefresh$ } from './pipeline/catalog-refresh.ts';
import { engineHealth } from './pipeline/engine-health.ts';
import { persistAndPublish } from './pipeline/persist-publish.ts';
import { SeriesLifecycle } from './pipeline/series-lifecycle.ts';
import { seriesGauges } from './pipeline/series-gauges.ts';
import { UpstreamRouter } from './pipeline/upstream-router.ts';
import { type UpstreamStatus, upstreamStatus$ } from './pipeline/upstream-status.ts';
import { bootstrapCustom, customSeries$ } from './pipeline/custom-series.ts';
import { pipelineMetrics } from './pipeline/engine-metrics.ts';
import { SeriesCatalog } from './pipeline/series-catalog.ts';
import { fetchMarkets } from './sources/exchange-info.ts';
import { seriesPipeline } from './pipeline/series-pipeline.ts';
import { loadSeriesModules } from './series/load-series.ts';
import { SeriesRegistry, type SeriesRegistryDeps } from './series/series-registry.ts';
import { instancesGauge, registryWiring } from './series/registry-wiring.ts';
import { ClientHistory, WARM_UP_ADDRESS } from './server/client-history.ts';
import { isNativeInterval } from './domain/interval.ts';
import { customOlderBars } from './series/custom-older-bars.ts';
import { type EngineServer, serverSettings, startServer } from './server/server.ts';
import { BinanceRest } from './sources/binance-rest.ts';
import { StreamShards } from './sources/stream-shards.ts';
import type { BarStore } from './store/bar-store.ts';
import { createMemoryBarStore } from './store/memory-bar-store.ts';
import { createRedisBarStore } from './store/redis-bar-store.ts';
import { checkRedisDatabase } from './store/check-redis-database.ts';
import { storeGauges } from './store/store-gauges.ts';
import type { SimExchange, SimOptions } from '../sim/sim-exchange.ts';
import { connectExchange } from './pipeline/connect-exchange.ts';
import { MemoryPositions } from './cluster/memory-positions.ts';
import { nodeInfo } from './cluster/node-info.ts';
import { Recorder } from './record/recorder.ts';
import type { ReplayExchange } from './record/replay-exchange.ts';

export interface AppOptions extends Partial<Config> {
  simOptions?: SimOptions;
  log?: Logger;
  /** Key prefix in Redis (tests isolate themselves with it). */
  redisKeyPrefix?: string;
  /** How often the catalog follows the exchange's markets (default hourly; tests shorten it). */
  catalogRefreshMs?: number;
  /**
   * ROLE=ingest (issue 13): every update goes to this instead of the local hub (the cluster's fenced
   * writer publishes it), and /health carries what `health` adds (role, node, leader). `series`
   * replaces how derived series learn who listens and where their points go (the leader computes
   * the instances edges ask for and writes their points into the cluster).
   */
  cluster?: { publish(id: SeriesId, bar: Bar): void; health(): Record<string, unknown>; series?: Pick<SeriesRegistryDeps, 'listening' | 'listenersVersion' | 'onPoint' | 'onState'> };
}

export interface App {
  readonly url: string;
  readonly config: Config;
  readonly sim?: SimExchange;
  readonly replay?: ReplayExchange;
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
 * The composition root: chooses the source, builds store, REST, upstream, per-series pipelines, hub
 * and server, and owns every long-lived subscription (released in `stop`, in shutdown order).
 */
export async function startApp(options: AppOptions = {}): Promise<App> {
  const { simOptions, log: givenLog, redisKeyPrefix, catalogRefreshMs = 3_600_000, cluster, ...overrides } = options;
  const config: Config = { ...loadConfig({}), ...stripUndefined(overrides) };
  const log = givenLog ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const pm = pipelineMetrics(metrics);
  nodeInfo(metrics, config.nodeId, config.role);

  // Before anything starts: a database Redis refuses fails the start (ConfigError); a Redis not
  // answering does not (the engine serves from memory and catches Redis up).
  if (config.redisUrl && !(await checkRedisDatabase(config.redisUrl, 3000))) log.warn('redis not reachable at start: serving from memory until it answers');

  // --- the exchange: Binance, the built-in simulator, or a recording ----------------------------
  const universe = isUniverse(config.symbols);
  // User code first: a series module that fails, loops or exhausts memory at import stops the start
  // here, naming its file, before any connection is opened.
  const defs = config.seriesDir ? await loadSeriesModules(config.seriesDir) : [];
  const exchange = await connectExchange(config, log, simOptions, metrics);
  const { kind: source, restUrl, wsUrl, sim, replay } = exchange;
  config.symbols = exchange.symbols;
  config.intervals = exchange.intervals;
  const exchangeNow = exchange.now;
  const recorder = config.recordFile ? new Recorder(config.recordFile) : undefined;
  recorder?.write({ k: 'meta', t: exchangeNow(), symbols: config.symbols, intervals: config.intervals, source });
  if (recorder) log.info(`recording every upstream frame and REST response to ${config.recordFile}`);

  const catalog = new SeriesCatalog(universe && source !== 'replay' ? '*' : config.symbols, config.intervals, source, config.bufferSize);
  const rest = new BinanceRest({
    baseUrl: restUrl,
    weightBudget: config.restWeightBudget,
    concurrency: config.restConcurrency,
    // The exchange's clock decides which REST row is still forming (the simulator's may run fast).
    now: exchangeNow,
    onResponse: recorder ? (q, status, body, askedAt) => recorder.write({ k: 'rest', t: exchangeNow(), a: askedAt, q, s: status, b: body }) : undefined,
    onWeight: (w) => pm.restWeight(w),
    onRetry: (err, attempt) => {
      pm.restRetries();
      log.warn('REST retry', { path: err.info.path, status: err.info.status, code: err.info.code, attempt });
    },
  });
  // --- the catalog: the exchange's TRADING markets, refreshed hourly -----------------------------
  // A replay's exchange knows only its recording: its symbols are the catalog.
  const loadMarkets = async () => {
    const { markets, skipped } = await fetchMarkets(rest);
    const change = catalog.setMarkets(markets);
    if (skipped) log.warn('exchangeInfo entries skipped (malformed or bad symbol names)', { skipped });
    return change;
  };
  if (source !== 'replay') {
    try {
      await loadMarkets();
      log.info(`exchange trades ${catalog.symbols().length} symbols`, { configured: universe ? '*' : catalog.configured().length });
      if (catalog.rejected.length) log.warn(`configured symbols not trading on the exchange, skipped: ${catalog.rejected.join(', ')}`);
    } catch (e) {
      log.warn('exchangeInfo failed: serving the configured symbols until it answers', { err: e as Error });
    }
  }
  const storeMetrics = { barsWritten: (n: number) => pm.candlesWritten(n), writeErrors: (n: number) => pm.storeErrors(n) };
  const store: BarStore = config.redisUrl
    ? createRedisBarStore({ url: config.redisUrl, bufferSize: config.bufferSize, keyPrefix: redisKeyPrefix, commandTimeoutMs: config.redisCommandTimeoutMs, metrics: storeMetrics, log: (l: 'info' | 'warn' | 'error', m: string) => log[l](m) })
    : createMemoryBarStore({ bufferSize: config.bufferSize, metrics: storeMetrics });
  const hub = new Hub(config.historyOnConnect, source);
  storeGauges(metrics, store, () => hub.snapshotCache);
  // Epoch and offset per series, and the recent history a reconnecting client resumes from (issue 13).
  const positions = new MemoryPositions({ updates: config.resumeUpdates, maxAgeMs: config.resumeMaxAgeMs, totalUpdates: config.resumeTotalUpdates });

  // --- upstream: shards of live-subscribed streams, routed to per-series inputs -----------------
  const shards = new StreamShards({
    wsUrl,
    maxStreamsPerConnection: config.streamsPerConnection,
    staleAfterMs: config.staleAfterMs,
    rotateAfterMs: config.rotateAfterMs,
    onFrame: (text) => {
      pm.framesIn();
      recorder?.write({ k: 'ws', t: exchangeNow(), d: text });
    },
    onMalformed: (e) => {
      pm.malformed();
      log.debug('malformed upstream frame skipped', { reason: e.info.reason });
    },
    log: (l, m, f) => log[l](m, f),
  });
  const router = new UpstreamRouter(config.bufferSize);
  // Every bar after it is in the window: feeds custom intervals and derived series.
  const barsOut = new Map<string, Subject<Bar>>();
  const barsOf = (id: SeriesId) => {
    let s = barsOut.get(id.key);
    if (!s) barsOut.set(id.key, (s = new Subject<Bar>()));
    return s;
  };
  const sink = persistAndPublish({
    store,
    publishBar: (id, bar) => (cluster ? cluster.publish(id, bar) : hub.publishBar(id, bar, positions.append(id, bar))),
    barsOut: (id, bar) => barsOut.get(id.key)?.next(bar),
    metrics: pm,
    log,
  });
  const upstreamSub = shards.events$.subscribe((ev) => {
    // The exchange's clock is read off its events (issue 14 part 1).
    if (ev.type === 'kline') exchange.observe(ev.eventTime);
    router.route(ev);
    if (ev.type === 'disconnected') pm.reconnects();
  });
  let upstream: UpstreamStatus | undefined;
  const statusSub = upstreamStatus$(shards.events$, { staleAfterMs: config.staleAfterMs }).subscribe((s) => {
    upstream = s;
    hub.setUpstream(s.state);
  });

  // --- series: configured ones for good, others on demand ----------------------------------------
  // Built after the lifecycle (they need it), called by it once it runs.
  const late: { server?: EngineServer; registry?: SeriesRegistry } = {};
  const refreshNow = new Subject<void>();
  const lifecycle = new SeriesLifecycle({
    catalog,
    upstream: shards,
    router,
    load: (id) => loadSeries$(id, { rest, store, bufferSize: config.bufferSize, log, now: exchangeNow, abandoned: (x) => lifecycle.abandoned(x) }),
    startNative: (id, input$) =>
      // Methods: one observer per series, so no named arrows (see series-pipeline.ts).
      seriesPipeline(id, input$, rest, store).subscribe({
        next(ev) {
          sink(id, ev);
        },
        error(e: unknown) {
          log.error('series pipeline failed', { key: id.key, err: e as Error });
        },
      }),
    // A custom interval goes live once its source series is: history from REST, then resampled live bars.
    startCustom: (id, source, live) =>
      defer(() => bootstrapCustom(id, source, rest, store, config.bufferSize))
        .pipe(
          retry({ delay: (e: unknown, n) => (log.warn('custom interval bootstrap failed, retrying', { key: id.key, err: e as Error }), timer(Math.min(60_000, 2000 * 2 ** n))) }),
          tap(() => live()),
          concatMap(() => customSeries$(id, source, store, barsOf(source))),
        )
        .subscribe({
          next: (bar) => sink(id, { type: 'bar', bar, origin: 'live' }),
          error: (e: unknown) => log.error('custom interval pipeline failed', { key: id.key, err: e as Error }),
        }),
    free: (id) => {
      late.registry?.releaseSeries(id);
      barsOut.get(id.key)?.complete();
      barsOut.delete(id.key);
      store.release(id);
      hub.dropSnapshot(id);
      positions.forget(id);
    },
    ended: (id, code, message) => late.server?.endSeries(id.key, code, message),
    invalidSymbol: (symbol) => {
      catalog.reject(symbol);
      refreshNow.next();
    },
    idleSeriesMs: config.idleSeriesMs,
    maxOnDemandSeries: config.maxOnDemandSeries,
    onDemandPerMinute: config.onDemandPerMinute,
    concurrency: config.restConcurrency,
    log,
  });
  const configured = catalog.configured();
  const startupTotal = catalog.nativeSeries().length;
  const customCount = catalog.customSeries().length;
  for (const symbol of configured) lifecycle.pinSymbol(symbol);
  lifecycle.sealStartup();
  let bootstrapDone = false;
  const ready = lifecycle.ready.then(() => {
    bootstrapDone = true;
  });
  const progressTimer = setInterval(() => {
    const c = lifecycle.counts();
    pm.bootstrapDone(lifecycle.loadedCount);
    if (c.loading === 0 && bootstrapDone) return;
    log.info(`bootstrap: ${c.live} series live, ${c.loading} loading (${c.queued} queued), REST weight ${rest.gate.weightUsed}/${config.restWeightBudget} per minute`, {
      onDemand: c.onDemand,
      shards: shards.stats().length,
      streams: shards.size,
    });
  }, 5000);
  progressTimer.unref();
  void ready.then(() => log.info(`configured series live: ${startupTotal} native, ${customCount} custom`, { rest: rest.gate.weightUsed }));
  seriesGauges(metrics, () => lifecycle.counts(), () => shards.stats(), () => rest.gate.weightUsed);

  // The catalog follows the exchange: hourly, and at once after a -1121 for a listed symbol.
  const refreshSub =
    source === 'replay'
      ? undefined
      : catalogRefresh$({ load: loadMarkets, everyMs: catalogRefreshMs, now$: refreshNow, onError: (e) => log.warn('exchangeInfo refresh failed', { err: e as Error }) }).subscribe(({ added, removed }) => {
          for (const symbol of removed) {
            log.warn(`symbol ${symbol} stopped trading: its series end`);
            lifecycle.endSymbol(symbol, `symbol ${symbol} stopped trading on the exchange`);
          }
          // A new listing (SYMBOLS=*) or a configured symbol trading again is kept live for good.
          for (const symbol of added) if (catalog.isConfigured(symbol)) lifecycle.pinSymbol(symbol);
          if (added.length || removed.length) log.info('exchange markets changed', { added: added.length, removed: removed.length, trading: catalog.symbols().length });
        });

  // --- derived series from SERIES_DIR: computed once per (series, params, symbol, interval) ------
  // Bars older than the store: the path GET /candles takes (client priority at the REST gate,
  // coalesced, cached, rate-limited per address; warm-ups share one address of their own).
  const olderBars = (symbol: string, interval: string, endTime: number, limit: number, address = WARM_UP_ADDRESS) =>
    clientHistory.page(address, symbol, interval, endTime, limit);
  // A custom interval has no klines of its own on the exchange: its source's, resampled.
  const olderSeriesBars = (id: SeriesId, endTime: number, limit: number, address?: string): Promise<Bar[]> => {
    if (isNativeInterval(id.interval)) return olderBars(id.symbol, id.interval, endTime, limit, address);
    const source = catalog.customSeriesOf(id.symbol).find((c) => c.id.key === id.key)?.source;
    if (!source) return Promise.reject(new Error(`${id.interval} of ${id.symbol} has no source interval`));
    return customOlderBars((end, n) => olderBars(id.symbol, source.interval, end, n, address), id.interval, source.interval, endTime, limit);
  };
  const registry = (late.registry = new SeriesRegistry(defs, {
    olderBars: olderSeriesBars,
    ...registryWiring({ bufferSize: config.bufferSize, log, metrics, store, bars$: (id) => barsOf(id).asObservable(), hub, positions }),
    maxInstances: config.maxSeriesInstances,
    ...cluster?.series,
  }));
  instancesGauge(metrics, () => registry.instanceCount);

  if (defs.length) log.info(`derived series loaded: ${defs.map((d) => d.name).join(', ')}`, { dir: config.seriesDir });

  // Until the exchange has described its markets (exchangeInfo failed at start), ask again every 30 s.
  const marketsRetry = setInterval(() => {
    if (source === 'replay' || catalog.marketsLoaded) clearInterval(marketsRetry);
    else refreshNow.next();
  }, 30_000);
  marketsRetry.unref();

  const baseHealth = engineHealth({
    source,
    upstream: () => upstream,
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
  // History older than the store, for clients: below live work at the REST gate, coalesced, cached, bounded.
  const clientHistory = new ClientHistory({
    fetch: (symbol, interval, endTime, limit) => rest.klines({ symbol, interval, endTime, limit }, undefined, 'client'),
    maxPending: config.clientHistoryQueue,
    perAddressPerMinute: config.clientHistoryPerMinute,
    perAddressBurst: Math.max(1, Math.ceil(config.clientHistoryPerMinute / 3)),
  });
  const historyPages = metrics.gauge('engine_client_history_pages', 'Client history pages (older than the store) by outcome since start');
  metrics.onCollect(() => {
    const st = clientHistory.stats();
    historyPages(st.fetched, { outcome: 'fetched' });
    historyPages(st.cacheHits, { outcome: 'cache_hit' });
    historyPages(st.coalesced, { outcome: 'coalesced' });
    historyPages(st.refusedRate, { outcome: 'refused_rate' });
    historyPages(st.refusedBusy, { outcome: 'refused_busy' });
  });

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
    positions,
    olderBars: (symbol, interval, endTime, limit, address) => clientHistory.page(address, symbol, interval, endTime, limit),
  }));

  const build = uwsBuild();
  const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${server.port}`;
  (build === 'native' ? log.info : log.warn)(`uWebSockets.js build: ${build}${build === 'native' ? '' : ' (slow JS fallback: the native binary did not load)'}`);
  log.info(`engine listening on ${url}`, { source, series: startupTotal, store: store.kind, symbols: universe ? `* (${configured.length})` : configured.length });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // Shutdown order: stop accepting, close upstream and pipelines, flush the store, close clients.
      server.stopListening();
      clearInterval(progressTimer);
      clearInterval(marketsRetry);
      refreshSub?.unsubscribe();
      refreshNow.complete();
      // Pipelines first (their teardown aborts REST fills), then the sockets upstream.
      lifecycle.stopAll();
      upstreamSub.unsubscribe();
      statusSub.unsubscribe();
      shards.close();
      registry.stop();
      for (const bars of barsOut.values()) bars.complete();
      await store.close();
      server.dropClients(1001, 'server shutting down');
      await rest.close();
      await exchange.close();
      await recorder?.close();
      log.info('engine stopped');
    })());

  return { url, config, sim, replay, registry, store, metrics, ready, catalog, lifecycle, shards, olderBars: olderSeriesBars, dropClients: (code = 1012) => server.dropClients(code, 'dropped'), stop };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}


