import { Redis } from 'ioredis';
import { Subject } from 'rxjs';
import { Hub } from '../broadcast/hub.ts';
import { type Config, loadConfig } from '../config/config.ts';
import type { Bar } from '../domain/bar.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { createLogger, type Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { SeriesCatalog } from '../pipeline/series-catalog.ts';
import { loadSeriesModules } from '../series/load-series.ts';
import { SeriesRegistry } from '../series/series-registry.ts';
import { type EngineServer, startServer } from '../server/server.ts';
import { createMemoryBarStore } from '../store/memory-bar-store.ts';
import { decodeBar } from './bar-codec.ts';
import { seriesKeys } from './cluster-keys.ts';
import { EdgeFeed } from './edge-feed.ts';
import { EdgePositions } from './edge-positions.ts';
import { nodeInfo } from './node-info.ts';

export interface EdgeNode {
  readonly url: string;
  readonly feed: EdgeFeed;
  readonly metrics: Metrics;
  dropClients(code?: number): void;
  stop(): Promise<void>;
}

/**
 * ROLE=edge: HTTP and WebSocket for clients, no upstream of its own. Every configured series is
 * followed from Redis (EdgeFeed: subscribe, atomic snapshot, merge by offset, repair holes) into
 * local hot windows and positions, and fanned out by uWS topics exactly as in ROLE=all; resumes are
 * answered from the leader's offsets, so a client can resume on any edge. Derived series are
 * computed here from the merged bars (deterministic, so every edge computes the same points).
 */
export async function startEdge(options: Partial<Config> & { redisUrl: string; log?: Logger; redisKeyPrefix?: string }): Promise<EdgeNode> {
  const config: Config = { ...loadConfig({}), ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)), role: 'edge' } as Config;
  const log = options.log ?? createLogger(config.logLevel);
  const prefix = options.redisKeyPrefix ?? '';
  const metrics = new Metrics();
  nodeInfo(metrics, config.nodeId, 'edge');
  const connect = () => {
    const r = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(100 * n, 1000) });
    r.on('error', () => {}); // reflected in /health and repaired on reconnect
    return r;
  };
  const redis = connect();
  const subscriber = connect();
  const store = createMemoryBarStore({ bufferSize: config.bufferSize });
  const hub = new Hub(config.historyOnConnect, 'cluster');
  const positions = new EdgePositions({ updates: config.resumeUpdates, maxAgeMs: config.resumeMaxAgeMs });
  const catalog = new SeriesCatalog(config.symbols, config.intervals, 'cluster', config.bufferSize);
  const ids: SeriesId[] = config.symbols.flatMap((s) => config.intervals.map((i) => seriesId(s, i)));
  const barsOut = new Map<string, Subject<Bar>>();
  const barsOf = (id: SeriesId) => barsOut.get(id.key) ?? barsOut.set(id.key, new Subject<Bar>()).get(id.key)!;
  const malformed = metrics.counter('engine_cluster_malformed_total', 'Malformed members, entries or messages read from Redis (skipped)');
  const feed = new EdgeFeed({
    redis,
    subscriber,
    keyPrefix: prefix,
    store,
    hub,
    positions,
    bufferSize: config.bufferSize,
    historyMaxAgeMs: config.resumeMaxAgeMs,
    onBar: (id, bar) => barsOut.get(id.key)?.next(bar),
    onMalformed: (n) => malformed(n),
    log: (l, m) => log[l](m),
  });
  const repairs = metrics.gauge('engine_cluster_repairs', 'History reads by this edge (holes repaired, catch-ups after a resubscribe)');
  const reloads = metrics.gauge('engine_cluster_reloads', 'Series this edge reloaded from a snapshot (hole beyond the history, new epoch)');
  metrics.onCollect(() => {
    repairs(feed.repairs);
    reloads(feed.reloads);
  });
  await feed.follow(ids);
  const upstream = () => hub.setUpstream(subscriber.status === 'ready' && feed.loaded ? 'live' : 'reconnecting');
  const statusTimer = setInterval(upstream, 500);
  statusTimer.unref();

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

  const health = () => {
    const notReady: string[] = [];
    if (redis.status !== 'ready' || subscriber.status !== 'ready') notReady.push('redis unreachable');
    if (!feed.loaded) notReady.push('series loading');
    return {
      status: notReady.length ? 'degraded' : 'ok',
      notReady,
      role: 'edge',
      node: config.nodeId,
      source: 'cluster',
      redis: { reachable: redis.status === 'ready', subscribed: subscriber.status === 'ready' },
      series: feed.size,
      repairs: feed.repairs,
      reloads: feed.reloads,
    };
  };

  const server: EngineServer = await startServer({
    host: config.host,
    port: config.port,
    historyOnConnect: config.historyOnConnect,
    series: registry,
    maxBackpressureBytes: config.maxBackpressureBytes,
    clientDir: config.clientDir,
    corsOrigins: config.corsOrigins,
    allowedOrigins: config.allowedOrigins,
    catalog: { symbols: () => catalog.configured(), intervals: () => catalog.intervals(), source: () => catalog.source(), listing: () => catalog.listing() },
    store,
    hub,
    metrics,
    log,
    health,
    positions,
    // Older pages from the cluster's sorted set (an edge has no exchange connection of its own).
    olderBars: async (symbol, interval, endTime, limit) => {
      const key = seriesKeys(seriesId(symbol, interval), prefix).candles;
      const members = await redis.zrange(key, endTime, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit);
      return members.map(decodeBar).filter((b): b is Bar => b !== undefined).reverse();
    },
  });
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${server.port}`;
  log.info(`edge ${config.nodeId} listening on ${url}`, { series: ids.length });

  let stopped: Promise<void> | undefined;
  return {
    url,
    feed,
    metrics,
    dropClients: (code = 1012) => server.dropClients(code, 'dropped'),
    stop: () =>
      (stopped ??= (async () => {
        server.stopListening();
        clearInterval(statusTimer);
        feed.stop();
        registry.stop();
        for (const s of barsOut.values()) s.complete();
        server.dropClients(1001, 'server shutting down');
        subscriber.disconnect();
        await redis.quit().catch(() => redis.disconnect());
      })()),
  };
}
