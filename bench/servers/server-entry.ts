import { monitorEventLoopDelay } from 'node:perf_hooks';
import { childConfig, emit, serve } from '../lib/ipc.ts';

/** What the bench passes to every server under test (engine, ceiling, ws-baseline). */
export interface ServerConfig {
  restUrl: string;
  wsUrl: string;
  symbols: string[];
  intervals: string[];
  historyOnConnect: number;
  bufferSize: number;
  maxBackpressureBytes: number;
  redisUrl?: string;
  redisKeyPrefix?: string;
  /** Derived series modules (engine only). */
  seriesDir?: string;
  /** REST weight per minute the engine may use (engine only; default the engine's). */
  restWeightBudget?: number;
}

export interface RunningServer {
  port: number;
  /** Milliseconds from start to every series bootstrapped. */
  bootstrapMs: number;
  /** Monotonic counters: updates in, messages out, slow clients dropped, ... */
  counters(): Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Runs one server under test as a child process: starts it with the parent's config, reports `ready`
 * with its port, answers `counters` and `memory` (after a GC when node runs with --expose-gc).
 */
export async function runServerProcess(start: (cfg: ServerConfig) => Promise<RunningServer>): Promise<void> {
  const server = await start(childConfig<ServerConfig>());
  // Event-loop delay (1 ms timer lateness) over a window: how long the main thread was busy in one go
  // (or descheduled), which is what a live update arriving meanwhile waits behind.
  let loop: ReturnType<typeof monitorEventLoopDelay> | undefined;
  serve(
    {
      'loop-start': () => {
        loop?.disable();
        loop = monitorEventLoopDelay({ resolution: 1 });
        loop.enable();
      },
      'loop-end': () => {
        if (!loop) return undefined;
        loop.disable();
        const ms = (ns: number) => Math.round(ns / 1e4) / 100;
        const h = loop;
        loop = undefined;
        return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), p999Ms: ms(h.percentile(99.9)), maxMs: ms(h.max), samples: h.count };
      },
      counters: () => server.counters(),
      memory: async (m) => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (m.gc && gc) {
          // Two collections with a turn between: finalizers (column slabs return chunks through
          // them) run after the first, and the second finishes compacting what the first left.
          gc();
          await new Promise((r) => setImmediate(r));
          gc();
        }
        return process.memoryUsage();
      },
    },
    () => server.stop(),
  );
  emit('ready', { port: server.port, bootstrapMs: server.bootstrapMs });
}
