import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Child } from './ipc.ts';
import { procSample, type ProcSample } from './proc-stats.ts';
import type { ServerConfig } from '../servers/server-entry.ts';

export const SERVER_KINDS = ['engine', 'ceiling', 'ws-baseline'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export interface ServerStartOptions extends Partial<ServerConfig> {
  restUrl: string;
  wsUrl: string;
  symbols: string[];
  /** Directory for a V8 CPU profile of this process (node --cpu-prof). */
  cpuProfileDir?: string;
  /** How long bootstrap may take (default 120 s; the whole universe needs minutes). */
  readyTimeoutMs?: number;
  /** Called with the process id as soon as it is forked (to sample it from /proc while it bootstraps). */
  onSpawn?: (pid: number) => void;
  /** Server entry file (default bench/servers/<kind>.ts); an A/B run points it at another checkout's. */
  entry?: string;
}

/** One server under test in its own process, measured from outside through /proc. */
export class ServerUnderTest {
  private constructor(
    readonly kind: ServerKind,
    readonly child: Child,
    readonly port: number,
    readonly bootstrapMs: number,
  ) {}

  static async start(kind: ServerKind, opts: ServerStartOptions): Promise<ServerUnderTest> {
    const { cpuProfileDir, readyTimeoutMs = 120_000, onSpawn, entry: entryPath, ...rest } = opts;
    const config: ServerConfig = { intervals: ['1m'], historyOnConnect: 720, bufferSize: 1000, maxBackpressureBytes: 1024 * 1024, ...rest };
    const nodeArgs = ['--expose-gc'];
    if (cpuProfileDir) {
      mkdirSync(cpuProfileDir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`);
    }
    const entry = entryPath ?? fileURLToPath(new URL(`../servers/${kind}.ts`, import.meta.url));
    const child = Child.fork(kind, entry, { config, nodeArgs, readyTimeoutMs });
    onSpawn?.(child.pid);
    const ready = await child.ready;
    return new ServerUnderTest(kind, child, Number(ready.port), Number(ready.bootstrapMs));
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid;
  }

  sample(): ProcSample | undefined {
    return procSample(this.pid);
  }

  counters(): Promise<Record<string, number>> {
    return this.child.request('counters', {}, 30_000);
  }

  /** Starts recording the server's event-loop delay (see `loopDelayEnd`). */
  loopDelayStart(): Promise<void> {
    return this.child.request('loop-start');
  }

  /** The server's event-loop delay since `loopDelayStart` (1 ms resolution timer lateness). */
  loopDelayEnd(): Promise<{ p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number; samples: number }> {
    return this.child.request('loop-end');
  }

  /** process.memoryUsage() inside the server, after a full GC when `gc`. */
  memory(gc: boolean): Promise<NodeJS.MemoryUsage> {
    return this.child.request('memory', { gc }, 30_000);
  }

  stop(): Promise<void> {
    return this.child.stop(15_000);
  }
}
