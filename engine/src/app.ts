import { concatMap, defer, retry, share, Subject, type Subscription, tap, timer } from 'rxjs';
import { Hub } from './broadcast/hub.ts';
import { uwsBuild } from './broadcast/uws-build.ts';
import { type Config, isUniverse, loadConfig } from './config/config.ts';
import { type Bar, sameBar } from './domain/bar.ts';
import type { SeriesId } from './domain/series-id.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import type { SeriesInput, SpliceEvent } from './operators/splice-gaps.ts';
import { bootstrap$ } from './pipeline/bootstrap.ts';
import { bootstrapCustom, customSeries$ } from './pipeline/custom-series.ts';
import { pipelineMetrics } from './pipeline/engine-metrics.ts';
import { SeriesCatalog } from './pipeline/series-catalog.ts';
import { fetchMarkets } from './sources/exchange-info.ts';
import { seriesPipeline } from './pipeline/series-pipeline.ts';
import { loadSeriesModules } from './series/load-series.ts';
import { SeriesRegistry } from './series/series-registry.ts';
import { type EngineServer, startServer } from './server/server.ts';
import { klineStreamName } from './sources/binance-raw.ts';
import { BinanceRest } from './sources/binance-rest.ts';
import { binanceKlines$, type UpstreamEvent } from './sources/binance-ws.ts';
import type { BarStore } from './store/bar-store.ts';
import { createMemoryBarStore } from './store/memory-bar-store.ts';
import { createRedisBarStore } from './store/redis-bar-store.ts';
import { storeGauges } from './store/store-gauges.ts';
import type { SimExchange, SimOptions } from '../sim/sim-exchange.ts';
import { connectExchange } from './pipeline/connect-exchange.ts';
import { MemoryPositions } from './cluster/memory-positions.ts';
import { Recorder } from './record/recorder.ts';
import type { ReplayExchange } from './record/replay-exchange.ts';

export interface AppOptions extends Partial<Config> {
  simOptions?: SimOptions;
  log?: Logger;
  /** Key prefix in Redis (tests isolate themselves with it). */
  redisKeyPrefix?: string;
}

export interface App {
  readonly url: string;
  readonly config: Config;
  readonly sim?: SimExchange;
  readonly replay?: ReplayExchange;
  readonly registry: SeriesRegistry;
  readonly store: BarStore;
  readonly metrics: Metrics;
  /** Resolves when every series is bootstrapped (or rejected). */
  readonly ready: Promise<void>;
  dropClients(code?: number): void;
  stop(): Promise<void>;
}

/**
 * The composition root: chooses the source, builds store, REST, upstream, per-series pipelines, hub
 * and server, and owns every long-lived subscription (released in `stop`, in shutdown order).
 */
export async function startApp(options: AppOptions = {}): Promise<App> {
  const { simOptions, log: givenLog, redisKeyPrefix, ...overrides } = options;
  const config: Config = { ...loadConfig({}), ...stripUndefined(overrides) };
  const log = givenLog ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const pm = pipelineMetrics(metrics);

  // --- the exchange: Binance, the built-in simulator, or a recording ----------------------------
  const universe = isUniverse(config.symbols);
  const exchange = await connectExchange(config, log, simOptions);
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
    ? createRedisBarStore({ url: config.redisUrl, bufferSize: config.bufferSize, keyPrefix: redisKeyPrefix, metrics: storeMetrics, log: (l: 'info' | 'warn' | 'error', m: string) => log[l](m) })
    : createMemoryBarStore({ bufferSize: config.bufferSize, metrics: storeMetrics });
  const hub = new Hub(config.historyOnConnect, source);
  storeGauges(metrics, store, () => hub.snapshotCache);
  // Epoch and offset per series, and the recent history a reconnecting client resumes from (issue 13).
  const positions = new MemoryPositions({ updates: config.resumeUpdates, maxAgeMs: config.resumeMaxAgeMs });

  // --- upstream: one shared stream of every native series, routed to per-series inputs ----------
  const series = catalog.nativeSeries();
  const customs = catalog.customSeries();
  const inputs = new Map<string, Subject<SeriesInput>>();
  const pipelines = new Map<string, Subscription>();
  // Every bar after it is in the window: feeds custom intervals and derived series.
  const barsOut = new Map<string, Subject<Bar>>();
  const barsOf = (id: SeriesId) => {
    let s = barsOut.get(id.key);
    if (!s) barsOut.set(id.key, (s = new Subject<Bar>()));
    return s;
  };
  let lastFrameAt: number | undefined;
  let connectedShards = 0;
  const upstream$ = binanceKlines$({
    wsUrl,
    streams: series.map((s) => klineStreamName(s.symbol, s.interval)),
    staleAfterMs: config.staleAfterMs,
    rotateAfterMs: config.rotateAfterMs,
    onFrame: (text) => {
      lastFrameAt = Date.now();
      pm.framesIn();
      recorder?.write({ k: 'ws', t: exchangeNow(), d: text });
    },
    onMalformed: (e) => {
      pm.malformed();
      log.debug('malformed upstream frame skipped', { reason: e.info.reason });
    },
    log: (l, m, f) => log[l](m, f),
  }).pipe(share({ resetOnError: true, resetOnComplete: true, resetOnRefCountZero: true }));

  // Live bars of series still bootstrapping wait here (newest per open time, bounded), so the same
  // frames give the same series however long bootstrap takes (what makes a replay deterministic).
  const early = new Map<string, Map<number, Bar>>();
  const route = (ev: UpstreamEvent) => {
    if (ev.type === 'kline') {
      exchange.observe(ev.eventTime);
      const key = `${ev.symbol}:${ev.interval}`;
      const input = inputs.get(key);
      if (input) return input.next({ type: 'bar', bar: ev.bar });
      let waiting = early.get(key);
      if (!waiting) early.set(key, (waiting = new Map()));
      waiting.set(ev.bar.openTime, ev.bar);
      if (waiting.size > config.bufferSize) waiting.delete(Math.min(...waiting.keys()));
    } else if (ev.type === 'connected') {
      connectedShards++;
      hub.setUpstream('live');
      if (ev.resync) for (const input of inputs.values()) input.next({ type: 'resync' });
    } else {
      connectedShards = Math.max(0, connectedShards - 1);
      pm.reconnects();
      hub.setUpstream('reconnecting');
    }
  };

  const sink = (id: SeriesId, ev: SpliceEvent) => {
    switch (ev.type) {
      case 'bar': {
        const prev = store.window(id).newest();
        if (prev && prev.openTime === ev.bar.openTime && sameBar(prev, ev.bar)) break;
        // Window first, then publish: a client connecting in between sees the bar in its snapshot.
        store.upsert(id, [ev.bar]);
        if (ev.origin !== 'live') pm.barsFilled();
        if (ev.origin === 'repair') break;
        hub.publishBar(id, ev.bar, positions.append(id, ev.bar));
        barsOut.get(id.key)?.next(ev.bar);
        break;
      }
      case 'gap':
        pm.gapsDetected();
        log.debug('gap detected', { key: id.key, from: ev.from, reason: ev.reason });
        break;
      case 'gap-filled':
        pm.gapsFilled();
        if (ev.bars > 0) log.info('gap filled', { key: id.key, bars: ev.bars });
        break;
      case 'gap-unfilled':
        pm.gapsUnfilled();
        log.warn('gap not filled, will retry', { key: id.key, err: ev.error.message });
        break;
    }
  };

  const startSeries = (id: SeriesId) => {
    const input = new Subject<SeriesInput>();
    inputs.set(id.key, input);
    const sub = seriesPipeline(id, input.asObservable(), rest, store).subscribe({
      next: (ev) => sink(id, ev),
      error: (e: unknown) => log.error('series pipeline failed', { key: id.key, err: e as Error }),
    });
    pipelines.set(id.key, sub);
    for (const c of customs) if (c.source.key === id.key) startCustom(c.id, c.source);
    const waiting = early.get(id.key);
    early.delete(id.key);
    for (const bar of [...(waiting?.values() ?? [])].sort((a, b) => a.openTime - b.openTime)) input.next({ type: 'bar', bar });
  };

  /** Custom intervals whose history is loaded (readiness waits for every configured one). */
  const customsLoaded = new Set<string>();
  /** A custom interval goes live once its source series is: history from REST, then resampled live bars. */
  const startCustom = (id: SeriesId, source: SeriesId) => {
    const sub = defer(() => bootstrapCustom(id, source, rest, store, config.bufferSize))
      .pipe(
        retry({ delay: (e: unknown, n) => (log.warn('custom interval bootstrap failed, retrying', { key: id.key, err: e as Error }), timer(Math.min(60_000, 2000 * 2 ** n))) }),
        tap(() => customsLoaded.add(id.key)),
        concatMap(() => customSeries$(id, source, store, barsOf(source))),
      )
      .subscribe({
        next: (bar) => sink(id, { type: 'bar', bar, origin: 'live' }),
        error: (e: unknown) => log.error('custom interval pipeline failed', { key: id.key, err: e as Error }),
      });
    pipelines.set(id.key, sub);
  };

  const upstreamSub = upstream$.subscribe({ next: route, error: (e: unknown) => log.error('upstream failed', { err: e as Error }) });

  // --- bootstrap: each series goes live as soon as it is loaded ----------------------------------
  let done = 0;
  let progressAt = 0;
  const progress = (force = false) => {
    if (!force && Date.now() - progressAt < 2000) return;
    progressAt = Date.now();
    log.info(`bootstrap ${done}/${series.length} series, REST weight ${rest.gate.weightUsed}/${config.restWeightBudget} per minute`);
  };
  let bootstrapDone = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const bootstrapSub = bootstrap$(series, { rest, store, bufferSize: config.bufferSize, concurrency: config.restConcurrency, log, now: exchangeNow }).subscribe({
    next: (r) => {
      done++;
      pm.bootstrapDone(done);
      if (r.outcome === 'invalid-symbol') {
        if (catalog.symbols().includes(r.id.symbol)) log.warn(`symbol ${r.id.symbol} rejected by the exchange (-1121 Invalid symbol): skipped`);
        catalog.reject(r.id.symbol);
      } else startSeries(r.id);
      progress(done === series.length);
    },
    complete: () => {
      bootstrapDone = true;
      resolveReady();
    },
  });

  // Upstream staleness for the clients' badge (the socket itself is replaced by the source).
  const staleTimer = setInterval(() => {
    if (connectedShards > 0 && lastFrameAt !== undefined && Date.now() - lastFrameAt > Math.min(10_000, config.staleAfterMs)) hub.setUpstream('stale');
    else if (connectedShards > 0 && lastFrameAt !== undefined) hub.setUpstream('live');
  }, 1000);

  /**
   * Readiness: ok only when the upstream is live (connected, frames arriving), every configured series
   * is loaded (native ones bootstrapped, custom intervals with their history; derived series are
   * loaded before the server listens and computed from these) and the store is reachable.
   * `notReady` says what is missing.
   */
  const health = () => {
    const storeHealth = store.health();
    const upstreamConnected = connectedShards > 0;
    const lastFrameAgeMs = lastFrameAt === undefined ? null : Date.now() - lastFrameAt;
    const upstreamLive = upstreamConnected && lastFrameAgeMs !== null && lastFrameAgeMs <= Math.min(10_000, config.staleAfterMs);
    // A custom interval of a symbol the exchange rejected never starts: it is not waited for.
    const customsWanted = customs.filter((c) => !catalog.rejected.includes(c.id.symbol));
    const customsReady = customsWanted.filter((c) => customsLoaded.has(c.id.key)).length;
    const notReady: string[] = [];
    if (!upstreamConnected) notReady.push('upstream not connected');
    else if (!upstreamLive) notReady.push('upstream connected but no recent frame');
    if (!bootstrapDone) notReady.push(`bootstrap ${done}/${series.length} series`);
    if (customsReady < customsWanted.length) notReady.push(`custom intervals loading ${customsReady}/${customsWanted.length}`);
    if (!storeHealth.reachable) notReady.push('store unreachable');
    return {
      status: notReady.length === 0 ? 'ok' : 'degraded',
      notReady,
      source,
      upstream: { connected: upstreamConnected, live: upstreamLive, shards: connectedShards, lastFrameAgeMs },
      store: storeHealth,
      bootstrap: { done: bootstrapDone, series: done, total: series.length, custom: customs.length, customLoaded: customsReady, rejectedSymbols: catalog.rejected },
      derived: { modules: defs.length },
    };
  };

  // --- derived series from SERIES_DIR: computed once per (series, params, symbol, interval) ------
  const defs = config.seriesDir ? await loadSeriesModules(config.seriesDir) : [];
  const seriesErrors = metrics.counter('engine_series_errors_total', 'Derived series that threw and were restarted');
  const registry = new SeriesRegistry(defs, {
    bufferSize: config.bufferSize,
    log,
    history: (id) => store.window(id).last(config.bufferSize),
    bars$: (id) => barsOf(id).asObservable(),
    publish: (topic, message) => hub.publish(topic, message),
    listening: (topic) => hub.listening(topic),
    listenersVersion: () => hub.followVersion,
    onError: (name) => seriesErrors(1, { series: name }),
    position: (id) => positions.position(id),
  });
  if (defs.length) log.info(`derived series loaded: ${defs.map((d) => d.name).join(', ')}`, { dir: config.seriesDir });

  const server: EngineServer = await startServer({
    host: config.host,
    port: config.port,
    historyOnConnect: config.historyOnConnect,
    series: registry,
    maxBackpressureBytes: config.maxBackpressureBytes,
    clientDir: config.clientDir,
    corsOrigins: config.corsOrigins,
    allowedOrigins: config.allowedOrigins,
    // Clients may ask for the configured symbols (on-demand ones come with the series lifecycle).
    catalog: { symbols: () => catalog.configured(), intervals: () => catalog.intervals(), source: () => catalog.source(), listing: () => catalog.listing() },
    store,
    hub,
    metrics,
    log,
    health,
    positions,
    olderBars: (symbol, interval, endTime, limit) => rest.klines({ symbol, interval, endTime, limit }),
  });
  const build = uwsBuild();
  const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
  const url = `http://${shownHost}:${server.port}`;
  (build === 'native' ? log.info : log.warn)(`uWebSockets.js build: ${build}${build === 'native' ? '' : ' (slow JS fallback: the native binary did not load)'}`);
  log.info(`engine listening on ${url}`, { source, series: series.length, store: store.kind });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // Shutdown order: stop accepting, close upstream and pipelines, flush the store, close clients.
      server.stopListening();
      clearInterval(staleTimer);
      bootstrapSub.unsubscribe();
      upstreamSub.unsubscribe();
      for (const sub of pipelines.values()) sub.unsubscribe();
      registry.stop();
      for (const input of inputs.values()) input.complete();
      for (const bars of barsOut.values()) bars.complete();
      await store.close();
      server.dropClients(1001, 'server shutting down');
      await rest.close();
      await exchange.close();
      await recorder?.close();
      resolveReady();
      log.info('engine stopped');
    })());

  return { url, config, sim, replay, registry, store, metrics, ready, dropClients: (code = 1012) => server.dropClients(code, 'dropped'), stop };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}


