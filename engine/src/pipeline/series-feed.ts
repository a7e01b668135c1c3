import { concatMap, defer, type Observable, retry, Subject, tap, timer } from 'rxjs';
import type { SeriesStatus } from '../broadcast/hub.ts';
import type { Config } from '../config/config.ts';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { ConnectLimiter } from '../sources/connect-limiter.ts';
import type { RestPriority } from '../sources/rest-gate.ts';
import { fetchSymbolStatus } from '../sources/exchange-info.ts';
import { StoppedSymbols } from './stopped-symbols.ts';
import type { Logger } from '../log.ts';
import { createLogDedup } from '../log-dedup.ts';
import type { Metrics } from '../metrics.ts';
import { closeTime, isNativeInterval } from '../domain/interval.ts';
import { FUTURE_SLACK_MS, misaligned, opensAhead } from '../sources/binance-raw.ts';
import { EMPTY_SHARD_GRACE_MS, StreamShards } from '../sources/stream-shards.ts';
import type { BarStore } from '../store/bar-store.ts';
import { loadSeries$ } from './bootstrap.ts';
import { catalogRefresh$ } from './catalog-refresh.ts';
import { bootstrapCustom, customSeries$ } from './custom-series.ts';
import type { PipelineMetrics } from './engine-metrics.ts';
import type { MarketConnection } from './market-connection.ts';
import { controlSendsPerSecond } from './control-sends-per-second.ts';
import { type HoldWhileConfig, holdWhile } from './hold-while.ts';
import { persistAndPublish } from './persist-publish.ts';
import { replayDemand } from './replay-demand.ts';
import { seriesGauges } from './series-gauges.ts';
import { SeriesLifecycle } from './series-lifecycle.ts';
import { seriesPipeline } from './series-pipeline.ts';
import { seriesStatus } from './series-status.ts';
import { UpstreamRouter } from './upstream-router.ts';
import { type UpstreamStatus, upstreamStatus$ } from './upstream-status.ts';

export interface SeriesFeedConfig {
  config: Config;
  log: Logger;
  metrics: Metrics;
  counters: PipelineMetrics;
  market: MarketConnection;
  store: BarStore;
  /** How often the catalog follows the exchange's markets (ms). */
  catalogRefreshMs: number;
  /** How often the symbols that stopped trading are asked after (ms; default STOPPED_RECHECK_MS). */
  stoppedRecheckMs?: number;
  /** What every upstream dial asks first (default: this process's own ConnectLimiter). */
  limiter?: ConnectLimiter;
  /**
   * The upstream's events wait on their way to the series while this says so, in order (a cluster's
   * standby: hold-while.ts). The upstream's state is not held: a standby's hand-over reads it.
   */
  holdUpstream?: HoldWhileConfig;
  /** Every bar the store took, with its series (the hub, or a cluster's fenced writer). */
  publish(id: SeriesId, bar: Bar): void;
  /** A series stopped (idle, ended, or at shutdown): what serves it lets go too. */
  freed(id: SeriesId): void;
  /** A series is live, its history in the store (a cluster's leader writes that window). */
  live?(id: SeriesId): void;
  /** A series ended for good (its symbol stopped trading, or the exchange rejected it): its clients are told why. */
  ended(id: SeriesId, code: string, message: string): void;
  /**
   * With every status tick (1 s): the upstream's state, and the series whose own stream is silent or
   * whose connection is down (see series-status.ts), to be applied together (Hub.setStatus).
   */
  upstreamChanged(status: UpstreamStatus, series: readonly SeriesStatus[]): void;
}

/** The market's series, live: what the rest of the engine reads bars from. */
export interface SeriesFeed {
  readonly shards: StreamShards;
  readonly lifecycle: SeriesLifecycle;
  /** Resolves when every configured series is bootstrapped (or rejected). */
  readonly ready: Promise<void>;
  /** Every bar of a series after it is in the store (feeds custom intervals and derived series). */
  bars$(id: SeriesId): Observable<Bar>;
  /** The bars of a hole a series repaired late (older than its newest), after they are in the window. */
  repairs$(id: SeriesId): Observable<Bar>;
  /** The upstream's state, once known. */
  upstream(): UpstreamStatus | undefined;
  /** SOURCE=replay: whether the recording played its last frame, and how many frames it played. */
  replay(): { done: boolean; frames: number } | undefined;
  /** Stops the pipelines (their teardown aborts REST fills), then the upstream sockets and timers. */
  stop(): void;
  /** Completes every series' bars$ (after their subscribers stopped). */
  endBars(): void;
}

/**
 * The ingest half of the engine: upstream shards of live-subscribed streams, routed to per-series
 * pipelines (bootstrap, gap healing, custom intervals), each bar persisted then published. Configured
 * series are kept live for good, others on demand; the catalog follows the exchange (hourly, and at
 * once after a -1121 for a listed symbol). Owns every subscription it makes.
 */
export function startSeriesFeed(deps: SeriesFeedConfig): SeriesFeed {
  const { config, log, counters: pm, market, store } = deps;
  const { exchange, catalog, rest, recorder } = market;
  // The exchange decides how often shards warn (10,000 error frames a second made 10,000 lines): one line per kind per 10 s.
  const shardWarns = createLogDedup(log);
  // A replay that played its last frame has nothing more to send: its silence is no fault (see `ended`).
  let replayEnded = false;
  let stopped = false;
  void exchange.replay?.done.then(() => {
    if (stopped) return;
    replayEnded = true;
    log.info('replay ended: every recorded frame was played', { frames: exchange.replay!.stats.framesSent });
  });
  const ended = () => replayEnded;
  const shards = new StreamShards({
    ended,
    limiter: deps.limiter,
    wsUrl: exchange.wsUrl,
    maxStreamsPerConnection: config.streamsPerConnection,
    // Within the time an idle series is kept: demand that comes back finds its connection.
    emptyGraceMs: Math.min(config.idleSeriesMs, EMPTY_SHARD_GRACE_MS),
    staleAfterMs: config.staleAfterMs,
    rotateAfterMs: config.rotateAfterMs,
    sendsPerSecond: controlSendsPerSecond(exchange.kind),
    onFrame: (text) => {
      pm.framesIn();
      recorder?.write({ k: 'ws', t: exchange.now(), d: text });
    },
    onMalformed: (e) => {
      pm.malformed();
      // Said, once per reason per 10 s: 43,500 foreign frames skipped with not one line above debug.
      shardWarns.warn(`malformed:${e.info.reason.slice(0, 80)}`, 'malformed upstream frames skipped', { reason: e.info.reason.slice(0, 200), sample: e.info.sample });
    },
    log: (l, m, f) => (l === 'warn' ? shardWarns.warn(m, m, f) : log[l](m, f)),
  });
  const router = new UpstreamRouter(config.bufferSize, exchange.now);
  // Per series: its bars in order, and the bars of holes it repaired late (what is built on it follows both).
  const barsOut = new Map<string, Subject<Bar>>();
  const repairsOut = new Map<string, Subject<Bar>>();
  const subjectOf = (m: Map<string, Subject<Bar>>, id: SeriesId) => {
    let s = m.get(id.key);
    if (!s) m.set(id.key, (s = new Subject<Bar>()));
    return s;
  };
  const barsOf = (id: SeriesId) => subjectOf(barsOut, id);
  const sink = persistAndPublish({
    store,
    publishBar: deps.publish,
    barsOut: (id, bar) => barsOut.get(id.key)?.next(bar),
    repairsOut: (id, bar) => repairsOut.get(id.key)?.next(bar),
    metrics: pm,
    log,
  });
  const upstreamSub = (deps.holdUpstream ? shards.events$.pipe(holdWhile(deps.holdUpstream)) : shards.events$).subscribe((ev) => {
    // The exchange's clock is read off its events (issue 14 part 1).
    if (ev.type === 'kline') {
      // Not a clock sample: an event time past its own bar's close (every frame of a burst stamped 2100
      // confirmed the one before and moved the clock a century; a resync then took a forming bar for closed).
      const native = isNativeInterval(ev.interval);
      if (!native || ev.eventTime <= closeTime(ev.bar.openTime, ev.interval) + FUTURE_SLACK_MS) exchange.observe(ev.eventTime);
      if (opensAhead(ev.bar, exchange.now()) || (native && misaligned(ev.bar, ev.interval))) {
        pm.malformed();
        shardWarns.warn('bad-open', "upstream kline opens after the exchange's time or off its interval: skipped", { symbol: ev.symbol.slice(0, 40), interval: ev.interval.slice(0, 10), openTime: ev.bar.openTime });
        return;
      }
    }
    router.route(ev);
    if (ev.type === 'disconnected') pm.reconnects();
    else if (ev.type === 'silent') pm.silentStreams(ev.streams.length);
  });
  let upstream: UpstreamStatus | undefined;
  const statusSub = upstreamStatus$(shards.events$, { staleAfterMs: config.staleAfterMs, quietMs: () => shards.quietAllowanceMs(), ended }).subscribe((s) => {
    upstream = s;
    const silent = [...shards.silentStreams(), ...shards.staleShardStreams()];
    // With no shard up the whole upstream says it: every series listed would be told apart first.
    const down = s.shards > 0 ? s.down.flatMap((i) => shards.streamsOf(i)) : [];
    deps.upstreamChanged(s, silent.length || down.length ? seriesStatus(down, silent, (symbol) => catalog.customSeriesOf(symbol)) : []);
  });

  const refreshNow = new Subject<void>();
  // One function for every series' fills (a closure per series would cost memory per series).
  const restLane = (id: SeriesId): RestPriority => lifecycle.restLane(id);
  const fillTiming = { repairAfterMs: config.gapRepairAfterMs, fillDeadlineMs: config.gapFillDeadlineMs };
  const lifecycle = new SeriesLifecycle({
    catalog,
    upstream: shards,
    router,
    load: (id, priority) => loadSeries$(id, { rest, store, bufferSize: config.bufferSize, log, now: exchange.now, abandoned: (x) => lifecycle.abandoned(x), priority }),
    startNative: (id, input$) =>
      // Methods: one observer per series, so no named arrows (see series-pipeline.ts).
      seriesPipeline(id, input$, rest, store, fillTiming, restLane).subscribe({
        next(ev) {
          sink(id, ev);
        },
        error(e: unknown) {
          log.error('series pipeline failed', { key: id.key, err: e as Error });
        },
      }),
    // A custom interval goes live once its source series is: history from REST, then resampled live bars.
    startCustom: (id, source, live, priority) =>
      defer(() => bootstrapCustom(id, source, rest, store, config.bufferSize, priority))
        .pipe(
          retry({ delay: (e: unknown, n) => (log.warn('custom interval bootstrap failed, retrying', { key: id.key, err: e as Error }), timer(Math.min(60_000, 2000 * 2 ** n))) }),
          tap(() => live()),
          concatMap(() => customSeries$(id, source, store, barsOf(source), subjectOf(repairsOut, source))),
        )
        .subscribe({
          // A bucket older than the newest is a rebuild after the source repaired a hole.
          next: (bar) => sink(id, { type: 'bar', bar, origin: bar.openTime < (store.window(id).newest()?.openTime ?? -Infinity) ? 'rebuild' : 'live' }),
          error: (e: unknown) => log.error('custom interval pipeline failed', { key: id.key, err: e as Error }),
        }),
    free: (id) => {
      deps.freed(id);
      for (const m of [barsOut, repairsOut]) {
        m.get(id.key)?.complete();
        m.delete(id.key);
      }
      store.release(id);
    },
    ended: deps.ended,
    live: deps.live,
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
  // Before the first connection: the replay asks at the first frame of each stream the live run opened on demand.
  exchange.replay?.onStreamStart(replayDemand(catalog, lifecycle, config.maxOnDemandSeries, log));
  const startupTotal = catalog.nativeSeries().length;
  const customCount = catalog.customSeries().length;
  for (const symbol of catalog.configured()) lifecycle.pinSymbol(symbol);
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
  // Not when `ready` came from a stop before the bootstrap was done (it said "live" of series that never were).
  void ready.then(() => lifecycle.stopped || log.info(`configured series live: ${startupTotal} native, ${customCount} custom`, { rest: rest.gate.weightUsed }));
  seriesGauges(deps.metrics, () => lifecycle.counts(), () => shards.stats(), () => rest.gate.weightUsed, () => rest.gate.waiting());

  const replay = exchange.kind === 'replay';
  // A symbol that stopped trading (or was configured while not trading) is asked after alone until it
  // trades again: the whole catalog, read once an hour, kept it refused up to an hour after a short halt.
  const stoppedSymbols = replay
    ? undefined
    : new StoppedSymbols({
        askStatus: (symbol) => fetchSymbolStatus(rest, symbol),
        trading: () => refreshNow.next(),
        everyMs: deps.stoppedRecheckMs,
        onError: (e) => log.warn('exchangeInfo of a symbol that stopped trading failed', { err: e as Error }),
      });
  for (const symbol of catalog.rejected) stoppedSymbols?.stopped(symbol);
  const refreshSub = replay
    ? undefined
    : catalogRefresh$({ load: market.loadMarkets, everyMs: deps.catalogRefreshMs, now$: refreshNow, onError: (e) => log.warn('exchangeInfo refresh failed', { err: e as Error }) }).subscribe(({ added, removed, held }) => {
        if (held) log.warn(`the exchange lists ${held} fewer trading symbols than before, over half of them: taken for a halt, not applied (their series go on; asked again at the next refresh)`);
        for (const symbol of removed) {
          log.warn(`symbol ${symbol} stopped trading: its series end`);
          lifecycle.endSymbol(symbol, `symbol ${symbol} stopped trading on the exchange`);
          stoppedSymbols?.stopped(symbol);
        }
        for (const symbol of added) stoppedSymbols?.resumed(symbol);
        // A new listing (SYMBOLS=*) or a configured symbol trading again is kept live for good.
        for (const symbol of added) if (catalog.isConfigured(symbol)) lifecycle.pinSymbol(symbol);
        if (added.length || removed.length) log.info('exchange markets changed', { added: added.length, removed: removed.length, trading: catalog.symbols().length });
      });
  // Until the exchange has described its markets (exchangeInfo failed at start), ask again every 30 s.
  const marketsRetry = setInterval(() => {
    if (replay || catalog.marketsLoaded) clearInterval(marketsRetry);
    else refreshNow.next();
  }, 30_000);
  marketsRetry.unref();

  return {
    shards,
    lifecycle,
    ready,
    bars$: (id) => barsOf(id).asObservable(),
    repairs$: (id) => subjectOf(repairsOut, id).asObservable(),
    upstream: () => upstream,
    replay: () => (exchange.replay ? { done: replayEnded, frames: exchange.replay.stats.framesSent } : undefined),
    stop() {
      stopped = true;
      clearInterval(progressTimer);
      clearInterval(marketsRetry);
      refreshSub?.unsubscribe();
      stoppedSymbols?.stop();
      refreshNow.complete();
      lifecycle.stopAll();
      upstreamSub.unsubscribe();
      statusSub.unsubscribe();
      shards.close();
      shardWarns.flush();
      sink.flush();
    },
    endBars() {
      for (const bars of [...barsOut.values(), ...repairsOut.values()]) bars.complete();
    },
  };
}
