import { randomBytes } from 'node:crypto';
import { quitRedis } from '../store/quit-redis.ts';
import { Redis } from 'ioredis';
import { type App, type AppOptions, startApp } from '../app.ts';
import type { Bar } from '../domain/bar.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { instanceDemandKeys, leaseKeys } from './cluster-keys.ts';
import { FencedWriter } from './fenced-writer.ts';
import { LeaderLease } from './leader-lease.ts';
import { LeaderSink } from './leader-sink.ts';
import { LeaderUpstream } from './leader-upstream.ts';
import { UpstreamHandover } from './upstream-handover.ts';
import { SharedConnectLimiter } from './shared-connect-limiter.ts';
import { leaderGauge } from './node-info.ts';
import { LeaderDemand } from './leader-demand.ts';
import { LeaderHistory } from './leader-history.ts';
import { DEMAND_STALE_MS } from './demand-member.ts';
import { LeaderSeries } from './leader-series.ts';
import { createLogger } from '../log.ts';
import { reconnectWhenHung } from './hang-reconnect.ts';
import { RedisWatch } from './redis-watch.ts';
import { CLUSTER_REDIS_MAJOR } from '../store/check-redis-database.ts';
import { leaderExpire, SeriesKeep } from './series-keep.ts';
import { loadConfig } from '../config/config.ts';
import { RELEASED_SERIES_TTL_MS } from '../store/redis-bar-store.ts';

/**
 * A standby's upstream events wait STANDBY_LAG_MS (config, default 100 ms) before its pipelines take
 * them (hold-while.ts). On one machine with the leader, the edges and Redis (docker-compose's
 * topology, the bench's), a standby working each exchange tick at once competes with the path to the
 * clients. Measured at Binance's pace on 2 vCPUs, holding and not in the same rounds (bench
 * cluster-pace, PACE_HOLD_AB=1): 100 ms cut the edge's p50 by 1.58 and 1.83 ms and its p99 by 11 and
 * 8.4 ms; 25 ms was within the noise (−0.85 and +0.54 ms at p50), the tail of the leader's path
 * (clients' wake-ups included) running past it. Its windows only serve a takeover, whose heal
 * rewrites their tail anyway, and once it leads what it held goes with its next event.
 */
/** Most events a standby holds (a universe's tick is a few thousand): past it they go at once. */
const STANDBY_MAX_HELD = 50_000;

export interface IngestNode {
  readonly app: App;
  readonly lease: LeaderLease;
  readonly demand: LeaderDemand;
  stop(): Promise<void>;
}

/**
 * ROLE=ingest: the whole pipeline of `ROLE=all` (upstream, bootstrap, gap healing, custom intervals)
 * as a hot standby, plus a lease; only the leader writes, each update through the fenced writer,
 * which stores and publishes it for the edges. Its local store is memory (what the pipeline needs);
 * Redis holds the cluster's copy. Serves /health (role, node, leader) and /metrics, and clients too,
 * without positions (they belong on edges, where they can resume).
 */
export async function startIngest(options: AppOptions & { redisUrl: string }): Promise<IngestNode> {
  const config = { ...loadConfig({}), ...options };
  const log = options.log ?? createLogger(config.logLevel);
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n) => Math.min(100 * n, 1000) });
  const watch = new RedisWatch(redis, (l, m) => log[l](m), config.redisCommandTimeoutMs, CLUSTER_REDIS_MAJOR);
  const keys = leaseKeys(options.redisKeyPrefix);
  // The lease on a connection of its own: a renewal must not wait behind a backlog of writes (an
  // edge's burst of on-demand series queued seconds of them, and the only node lost its lead, again
  // at every new term while it wrote the held windows once more).
  // Its commands time out (the lease's own watchdog steps down in time): a cut that sends no reset
  // must not stall the renewals and retries for good.
  const leaseRedis = redis.duplicate({ commandTimeout: config.leaseTtlMs });
  leaseRedis.on('error', () => {}); // RedisWatch reports the shared connection's state
  // A standby whose upstream is down leaves the lease to one whose is (the hand-over, below).
  const lease = new LeaderLease({ redis: leaseRedis, keys, nodeId: config.nodeId, ttlMs: config.leaseTtlMs, log: (l, m) => log[l](m), mayLead: (): boolean => handover.mayLead() });
  // A Redis restarted within the lease's TTL keeps the lease (it is in its file) but may have lost the
  // last second of writes: they are written again only by taking the lead again (its heal, its seeds).
  const writer = new FencedWriter({
    redis,
    keyPrefix: options.redisKeyPrefix,
    leaseKey: keys.lease,
    bufferSize: config.bufferSize,
    historyUpdates: config.resumeUpdates,
    onRedisChanged: () => lease.handOver('Redis restarted (its run id changed): taking the lead again to write what it lost', 0),
  });
  // Set once startApp returns; the sink's callbacks run only after that (early updates wait below).
  const ref: { app?: App } = {};
  // Every configured series (with SYMBOLS=*, those of every trading symbol; custom intervals too).
  const ids = (): SeriesId[] => {
    const app = ref.app;
    return app ? app.catalog.configured().flatMap((s) => app.config.intervals.map((i) => seriesId(s, i))) : [];
  };
  const counts = { written: 0, dropped: 0, fenced: 0, failed: 0 };
  const sink = new LeaderSink({
    writer,
    lease,
    series: ids,
    tail: (id, n) => ref.app?.store.window(id).last(n) ?? [],
    held: (id) => ref.app?.lifecycle.isLive(id) ?? true,
    windowBars: config.bufferSize,
    log: (l, m, f) => log[l](m, f),
    metrics: { written: (n) => (counts.written += n), dropped: (n) => (counts.dropped += n), fenced: () => counts.fenced++, failed: () => counts.failed++ },
  });
  // A connection of its own for the edges' nudges (on-demand series and derived series).
  // Its subscriptions are restored by their owners (ChannelSubscriptions), not twice by ioredis too.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: false });
  subscriber.on('error', () => {});
  const hangs = reconnectWhenHung({ commands: redis, lease: leaseRedis, subscriber }, config.redisCommandTimeoutMs, (l, m) => log[l](m));
  // Derived series the edges serve are computed here, once, by the leader (issue 13 part 5).
  const derived = new LeaderSeries({
    redis,
    subscriber,
    keys: instanceDemandKeys(options.redisKeyPrefix),
    keyPrefix: options.redisKeyPrefix,
    lease,
    writer,
    bufferSize: config.bufferSize,
    staleMs: DEMAND_STALE_MS,
    maxInstances: config.maxSeriesInstances,
    log: (l, m) => log[l](m),
  });
  // What this node's upstream is doing, for the edges' clients (written while it leads).
  const upstream = new LeaderUpstream({ redis: leaseRedis, keys, lease });
  // Every ingest node dials the exchange (standbys too), most on one IP: one budget of connection
  // attempts for them all (Binance's 300 per 5 min per IP), on the lease's connection (quick answers).
  const connectLimiter = new SharedConnectLimiter({ redis: leaseRedis, keys, timeoutMs: config.redisCommandTimeoutMs, log: (l, m) => log[l](m) });
  // A leader cut off from the exchange hands over to a node that is not. Each process says its state
  // under a name of its own: two nodes given one NODE_ID (a copy-paste) wrote one field, each took the
  // other's `live` for its own, and the leader never handed over (an operator's review).
  const handover: UpstreamHandover = new UpstreamHandover({ redis: leaseRedis, key: keys.ingestUpstream, leaseKey: keys.lease, nodeId: `${config.nodeId}.${randomBytes(4).toString('hex')}`, lease, afterMs: config.upstreamHandoverMs });
  const early: Array<[SeriesId, Bar]> = [];
  // Only the leader's own frees and writes count (fenced).
  const seriesKeep = new SeriesKeep({
    expire: leaderExpire(() => lease.state, (token, id: SeriesId, ttlMs) => writer.expireSeries(token, id, ttlMs)),
    freedTtlMs: RELEASED_SERIES_TTL_MS,
  });
  const keep = (id: SeriesId) => seriesKeep.keep(id);
  // A series' window goes to Redis whole once per term when it goes live or is held for an edge: its
  // history (REST bootstrap, a custom interval's resampled history) reaches the store without passing
  // through `publish`, and the heals run only on taking the lead and at the end of the native
  // bootstrap (custom intervals, and with SYMBOLS=* new listings, went live after: edges showed only
  // the bars written since). A window seeded in this term has had every bar written since (the sink
  // writes every live series): held again while it stayed live it needs no second seed (else a client
  // reconnecting in a loop on an edge cost Redis a whole window each time). A new window (the series
  // was stopped and started again) or a new term is seeded whole.
  // Each seeded window's write, so a second call (LeaderDemand's hold, after the lifecycle's `live`
  // already seeded it) gets the same promise: answered `live` only once the window is in Redis.
  let seeded = new WeakMap<object, Promise<void>>();
  const seed = (id: SeriesId) => {
    const app = ref.app;
    if (!app || !lease.state.leader) return; // a standby writes nothing; taking the lead heals
    // Held again: kept before any live update comes (a quiet symbol may have none for a long time).
    keep(id);
    const window = app.store.window(id);
    const written = seeded.get(window) ?? sink.writeWindow(id);
    seeded.set(window, written);
    return written;
  };
  // Counted once /metrics exists (events come only once startApp runs the shards).
  const standbyHeld = { count: (): void => undefined };
  const app = await startApp({
    ...options,
    role: 'ingest',
    // The bar store stays in memory: the cluster's copy is written by the fenced writer.
    redisUrl: undefined,
    log,
    cluster: {
      connectLimiter,
      holdUpstream:
        config.standbyLagMs > 0
          ? {
              hold: () => {
                const held = !lease.state.leader;
                if (held) standbyHeld.count();
                return held;
              },
              delayMs: config.standbyLagMs,
              maxHeld: STANDBY_MAX_HELD,
            }
          : undefined,
      publish: (id, bar) => {
        const app = ref.app;
        if (!app) return void early.push([id, bar]);
        keep(id);
        // An on-demand series (the heal decides a configured one's writes) goes to Redis once seeded in
        // this term. A node that took the lead again still runs its on-demand series before its demand
        // holds them again: a live bar then came first, and after a Redis that lost its data it made a
        // one-bar log that edges served, its window following as older updates (an attacker-style probe).
        // Held when its turn comes, its window (read from the store then) holds this bar.
        if (!seeded.has(app.store.window(id)) && !(app.catalog.isConfigured(id.symbol) && app.config.intervals.includes(id.interval))) return;
        sink.publish(id, bar);
      },
      // A series freed (on demand and unwatched, or its symbol stopped trading) leaves Redis in a while.
      freed: (id) => seriesKeep.free(id),
      live: (id) => seed(id),
      upstream: (state) => {
        upstream.set(state);
        handover.set(state);
      },
      seriesStatus: (list) => upstream.setSeriesStatus(list),
      health: () => {
        const failing = sink.failing;
        return {
          // Until the leader's heal has written what Redis lacks, edges would serve a short history.
          notReady: [
            ...(watch.error ? [`redis unreachable: ${watch.error}`] : []),
            ...(watch.versionProblem ? [watch.versionProblem] : []),
            ...(sink.healing || sink.windowsWaiting ? [`writing the loaded history to redis${sink.windowsWaiting ? ` (${sink.windowsWaiting} series waiting)` : ''}`] : []),
            ...(failing ? [`writes to redis fail: ${failing.reason} (${failing.pending} updates kept)`] : []),
          ],
          // Not reasons to leave a balancer (a standby serves no clients): what an operator must fix.
          warnings: [...watch.warnings, ...(lease.acquireRefused ? [`redis refuses this node's tries to take the lease: ${lease.acquireRefused}`] : [])],
          leader: lease.state.leader,
          term: lease.state.term ?? null,
          // `store` is this node's own memory (its working windows); Redis is the cluster's store.
          redis: { reachable: redis.status === 'ready' && watch.error === undefined, error: watch.error ?? failing?.reason ?? null, writesKept: failing?.pending ?? 0 },
          writes: { ...counts },
          stepDowns: lease.stepDowns,
          // Series logs Redis lost mid-term (an update began one), each written again whole.
          logsRestarted: sink.restarts,
          // Freed series whose expiry Redis has not taken yet (tried again until it does).
          pendingFrees: seriesKeep.pendingFrees,
          lastStepDown: lease.lastStepDown ?? null,
          derived: { held: derived.size, writes: { ...derived.writes }, pendingFrees: derived.pendingLogFrees },
        };
      },
      series: derived.registryDeps,
    },
  });
  ref.app = app;
  leaderGauge(app.metrics, () => lease.state.leader);
  const heldTotal = app.metrics.counter('engine_cluster_standby_held_total', `Upstream events this node held ${config.standbyLagMs} ms (STANDBY_LAG_MS) while standing by`);
  standbyHeld.count = () => heldTotal();
  const writeFailures = app.metrics.gauge('engine_cluster_write_failures', 'Writes to Redis that failed since this node started (each kept and retried)');
  const keptWrites = app.metrics.gauge('engine_cluster_writes_kept', 'Updates kept to be written again after a failed write');
  const connectUnanswered = app.metrics.gauge('engine_cluster_connect_unanswered', "Upstream dials since this node started that counted on its own connection attempts alone (Redis did not answer in time for the cluster's)");
  // Leadership changes, for alerts: /health alone said them (an operator's review).
  const stepDowns = app.metrics.gauge('engine_cluster_step_downs', 'Times this node stopped leading since it started (lease lost, fenced, handed over, stopped)');
  const term = app.metrics.gauge('engine_cluster_term', 'The highest term this node has seen (led or learned); a rise is a leader change');
  app.metrics.onCollect(() => {
    stepDowns(lease.stepDowns);
    term(lease.termSeen);
    writeFailures(counts.failed);
    keptWrites(sink.failing?.pending ?? 0);
    connectUnanswered(connectLimiter.fallbacks);
  });
  const malformed = app.metrics.counter('engine_cluster_malformed_total', 'Malformed wanted members or history asks read from Redis (skipped)');
  for (const [id, bar] of early.splice(0)) sink.publish(id, bar);
  // On-demand series edges ask for (issue 13 part 6): the leader holds them and seeds their history.
  const seededSub = lease.leader$.subscribe((leader) => {
    seeded = new WeakMap();
    seriesKeep.newTerm();
    if (leader) writer.newTerm();
  });
  // Every configured series bootstrapped: from then on one this node lacks is not one of its own.
  let configuredUp = false;
  app.ready.then(() => (configuredUp = true), () => undefined);
  const demand = new LeaderDemand({
    redis,
    subscriber,
    keys,
    lease,
    demand: app.lifecycle,
    seed,
    staleMs: DEMAND_STALE_MS,
    maxSeries: config.maxOnDemandSeries,
    onMalformed: (n) => malformed(n),
    // Not one this node has (configured, or still kept after its release): only an orphan.
    forget: (id) => {
      if (!app.lifecycle.has(id)) seriesKeep.free(id);
    },
    kept: keys.kept,
    canSweep: () => configuredUp,
    log: (l, m) => log[l](m),
  });
  derived.start(app.registry, app.lifecycle);
  // Bars older than Redis keeps, for the edges' clients (scrolled-back charts, deep GET /series).
  const history = new LeaderHistory({ redis, subscriber, keys, lease, olderBars: app.olderBars, onMalformed: (n) => malformed(n) });
  // The markets edges validate symbols against: written by the leader when they change.
  let marketsWritten: readonly string[] | undefined;
  const writeMarkets = () => {
    const symbols = app.catalog.symbols();
    if (!lease.state.leader || !app.catalog.marketsLoaded || symbols === marketsWritten) return;
    // With the exchange they come from: the edges' clients are told (a simulated feed says so).
    const body = { source: app.catalog.source(), symbols: app.catalog.markets().map((m) => ({ symbol: m.symbol, status: 'TRADING', baseAsset: m.base, quoteAsset: m.quote })) };
    // The message tells edges to read them now (a symbol that stopped trading ends on the edges too).
    redis.multi().set(keys.markets, JSON.stringify(body)).publish(keys.markets, 'changed').exec().then(
      () => (marketsWritten = symbols),
      () => undefined,
    );
  };
  const marketsTimer = setInterval(writeMarkets, 2000);
  marketsTimer.unref();
  const marketsSub = lease.leader$.subscribe((leader) => {
    marketsWritten = undefined;
    if (leader) writeMarkets();
    if (leader) upstream.write();
  });
  lease.start();
  // Configured series' history reaches Redis too: bootstrap loads it from REST into the hot window
  // only. The heal on taking the lead writes the whole window of every series Redis holds less of (a
  // fresh cluster, a leader that died while bootstrapping, a Redis that lost its data); series loaded
  // after the lead was taken get theirs once all are loaded. Without it an edge's clients got only the
  // bars since the cluster started.
  app.ready.then(
    () => sink.heal(),
    () => undefined, // startApp reports its own failure
  );
  return {
    app,
    lease,
    demand,
    async stop() {
      clearInterval(marketsTimer);
      upstream.stop();
      await handover.stop();
      marketsSub.unsubscribe();
      seededSub.unsubscribe();
      seriesKeep.stop();
      derived.stop();
      demand.stop();
      history.stop();
      await lease.stop();
      sink.stop();
      writer.close();
      hangs.stop();
      subscriber.disconnect();
      await app.stop();
      watch.stop();
      await Promise.all([quitRedis(redis), quitRedis(leaseRedis)]);
    },
  };
}
