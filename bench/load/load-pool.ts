import { fileURLToPath } from 'node:url';
import { monoUs } from '../lib/clock.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { Child } from '../lib/ipc.ts';

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export interface ConnectResult {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  /** Time from the common start to each client's `historical`, µs. */
  timeToHistorical: Histogram;
  /** Wall time until every client had its historical or failed, ms. */
  wallMs: number;
  historical: { bytes: number; bars: number } | undefined;
}

export interface WindowResult {
  /** Updates received within the window (each worker's clock). */
  delivered: number;
  /** Updates received from the window's start until now (the window plus what arrived after). */
  deliveredAll: number;
  unmatched: number;
  latency: Histogram;
  closes: Record<string, number>;
}

interface WorkerConnect {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  timeToHistorical: HistogramData;
  historical?: { bytes: number; bars: number };
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** The load generator: worker processes that each hold a share of the clients. */
export class LoadPool {
  private constructor(readonly workers: Child[]) {}

  static async start(n: number): Promise<LoadPool> {
    const workers = Array.from({ length: n }, (_, i) => Child.fork(`load-worker-${i}`, WORKER, { readyTimeoutMs: 30_000 }));
    await Promise.all(workers.map((w) => w.ready));
    return new LoadPool(workers);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  /**
   * Opens one client per path (spread round-robin over the workers). `concurrency` 0 opens them all
   * at once (connect storm); time to historical is measured from one common start.
   */
  async connect(url: string, paths: string[], opts: { concurrency: number; timeoutMs: number }): Promise<ConnectResult> {
    const shares = this.workers.map((_, w) => paths.filter((_, i) => i % this.workers.length === w));
    const t0Us = monoUs();
    const started = performance.now();
    const parts = await Promise.all(
      this.workers.map((w, i) =>
        w.request<WorkerConnect>('connect', { url, paths: shares[i], concurrency: Math.ceil(opts.concurrency / this.workers.length), t0Us, timeoutMs: opts.timeoutMs }, opts.timeoutMs + 30_000),
      ),
    );
    const failures: Record<string, number> = {};
    for (const p of parts) addCounts(failures, p.failures);
    return {
      ok: parts.reduce((s, p) => s + p.ok, 0),
      failed: parts.reduce((s, p) => s + p.failed, 0),
      failures,
      timeToHistorical: Histogram.from(parts.map((p) => p.timeToHistorical)),
      wallMs: performance.now() - started,
      historical: parts.find((p) => p.historical)?.historical,
    };
  }

  /** Every worker times one update in `every` per client. */
  async sample(every: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request('sample', { every })));
  }

  forwardSent(entries: unknown): void {
    for (const w of this.workers) w.post('sent', { entries });
  }

  /** Starts counting; each worker stops counting after `seconds` on its own clock. */
  async windowStart(seconds?: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request('window-start', seconds === undefined ? {} : { seconds })));
  }

  async windowEnd(): Promise<WindowResult> {
    const parts = await Promise.all(
      // A worker flooded beyond its capacity answers only once it has worked through its backlog.
      this.workers.map((w) => w.request<{ delivered: number; deliveredAll: number; unmatched: number; latency: HistogramData; closes: Record<string, number> }>('window-end', {}, 180_000)),
    );
    const closes: Record<string, number> = {};
    for (const p of parts) addCounts(closes, p.closes);
    return {
      delivered: parts.reduce((s, p) => s + p.delivered, 0),
      deliveredAll: parts.reduce((s, p) => s + p.deliveredAll, 0),
      unmatched: parts.reduce((s, p) => s + p.unmatched, 0),
      latency: Histogram.from(parts.map((p) => p.latency)),
      closes,
    };
  }

  /** Stops reading on the first `count` clients of the first worker (slow consumers). */
  async pause(count: number): Promise<void> {
    await this.workers[0]!.request('pause', { count });
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request('disconnect', {}, 30_000)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop(5000)));
  }
}
