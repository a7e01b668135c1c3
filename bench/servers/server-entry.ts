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
  serve(
    {
      counters: () => server.counters(),
      memory: (m) => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (m.gc && gc) gc();
        return process.memoryUsage();
      },
    },
    () => server.stop(),
  );
  emit('ready', { port: server.port, bootstrapMs: server.bootstrapMs });
}
