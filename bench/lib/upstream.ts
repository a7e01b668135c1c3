import { fileURLToPath } from 'node:url';
import { Child } from './ipc.ts';
import type { LoadPool } from '../load/load-pool.ts';
import type { UpstreamConfig } from '../upstream/upstream-process.ts';

const ENTRY = fileURLToPath(new URL('../upstream/upstream-process.ts', import.meta.url));

/** Parent-side handle of the upstream process (simulator + pacing relay). */
export class Upstream {
  private constructor(
    readonly child: Child,
    readonly restUrl: string,
    readonly wsUrl: string,
  ) {}

  static async start(cfg: UpstreamConfig): Promise<Upstream> {
    const child = Child.fork('upstream', ENTRY, { config: cfg, readyTimeoutMs: 60_000 });
    const ready = await child.ready;
    return new Upstream(child, String(ready.restUrl), String(ready.wsUrl));
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Routes the relay's send times to the load workers (for latency) until `feed(undefined)`. */
  async feed(pool: LoadPool | undefined): Promise<void> {
    this.target = pool;
    if (!this.wired) {
      this.wired = true;
      this.child.on('sent', (m) => this.target?.forwardSent(m.entries));
    }
    await this.child.request('feed', { on: pool !== undefined });
  }
  private target: LoadPool | undefined;
  private wired = false;

  async setRate(perStream: number): Promise<void> {
    await this.child.request('rate', { perStream });
  }

  async windowStart(): Promise<void> {
    await this.child.request('window-start');
  }

  /** Frames the relay sent per stream since `windowStart`. */
  async windowEnd(): Promise<{ sent: Record<string, number>; seconds: number }> {
    return this.child.request('window-end');
  }

  /** The simulator's own counters (REST requests and weight in the current minute, frames sent). */
  simStats(): Promise<{ restRequests: number; weightUsed: number; framesSent: number }> {
    return this.child.request('sim-stats');
  }

  stop(): Promise<void> {
    return this.child.stop(10_000);
  }
}
