/** The engine under test: `startApp` in Binance mode, pointed at the bench's upstream (simulator + relay). */
import { startApp } from '../../engine/src/app.ts';
import { silentLogger } from '../../engine/src/log.ts';
import { runServerProcess } from './server-entry.ts';

await runServerProcess(async (cfg) => {
  const started = performance.now();
  const app = await startApp({
    source: 'binance',
    host: '127.0.0.1',
    port: 0,
    symbols: cfg.symbols,
    intervals: cfg.intervals,
    bufferSize: cfg.bufferSize,
    historyOnConnect: cfg.historyOnConnect,
    restUrl: cfg.restUrl,
    wsUrl: cfg.wsUrl,
    redisUrl: cfg.redisUrl,
    redisKeyPrefix: cfg.redisKeyPrefix,
    maxBackpressureBytes: cfg.maxBackpressureBytes,
    seriesDir: cfg.seriesDir,
    restWeightBudget: cfg.restWeightBudget,
    clientDir: '',
    // Every bench client connects from loopback.
    maxConnectionsPerAddress: 0,
    maxClients: 0,
    maxConnectsPerSecond: 0,
    log: silentLogger,
  });
  await app.ready;
  const bootstrapMs = performance.now() - started;
  const m = app.metrics;
  return {
    port: Number(new URL(app.url).port),
    bootstrapMs,
    counters: () => {
      m.render(); // runs the gauges' collectors
      return {
        updatesIn: m.value('engine_upstream_frames_total'),
        written: m.value('engine_candles_written_total'),
        sent: m.value('engine_ws_messages_sent_total'),
        slowDropped: m.value('engine_ws_slow_clients_dropped_total'),
        clients: m.value('engine_clients_connected'),
        gapsDetected: m.value('engine_gaps_detected_total'),
        restRetries: m.value('engine_rest_retries_total'),
        restWeight: m.value('engine_rest_weight_used'),
        pendingWrites: app.store.health().pendingWrites ?? 0,
        storeSeries: m.value('engine_store_series'),
        storeBars: m.value('engine_store_bars'),
        storeBytes: m.value('engine_store_bytes'),
      };
    },
    stop: () => app.stop(),
  };
});
