/** Probe: the bench's engine child plus heap snapshots and a memory breakdown. */
import v8 from 'node:v8';
import { startApp } from '../../engine/src/app.ts';
import { silentLogger } from '../../engine/src/log.ts';
import { childConfig, emit, serve } from '../lib/ipc.ts';
import type { ServerConfig } from '../servers/server-entry.ts';

const cfg = childConfig<ServerConfig>();
const started = performance.now();
const app = await startApp({
  source: 'binance', host: '127.0.0.1', port: 0, symbols: cfg.symbols, intervals: cfg.intervals, bufferSize: cfg.bufferSize,
  historyOnConnect: cfg.historyOnConnect, restUrl: cfg.restUrl, wsUrl: cfg.wsUrl, redisUrl: cfg.redisUrl, redisKeyPrefix: cfg.redisKeyPrefix,
  maxBackpressureBytes: cfg.maxBackpressureBytes, restWeightBudget: cfg.restWeightBudget, clientDir: '', log: silentLogger,
});
await app.ready;
const bootstrapMs = performance.now() - started;
const gc = (globalThis as { gc?: () => void }).gc!;
serve(
  {
    mem: () => {
      gc();
      gc();
      const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, avail: s.space_available_size, phys: s.physical_space_size }]));
      const m = app.metrics;
      m.render();
      return { mem: process.memoryUsage(), spaces, storeBars: m.value('engine_store_bars'), storeBytes: m.value('engine_store_bytes'), frames: m.value('engine_upstream_frames_total') };
    },
    snap: (msg) => {
      gc();
      gc();
      return v8.writeHeapSnapshot(String(msg.path));
    },
  },
  () => app.stop(),
);
emit('ready', { port: 0, bootstrapMs });
