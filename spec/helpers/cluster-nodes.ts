import { type ChildProcess, spawn } from 'node:child_process';
import { type Dispatcher, request } from 'undici';
import { childEnv } from './child-env.ts';
import { freePort } from './redis-process.ts';

/** An engine node a spec drives over HTTP, however it runs (a child process, a container). */
export abstract class EngineNode {
  abstract readonly name: string;
  abstract get url(): string;
  abstract get ws(): string;
  abstract get exited(): boolean;
  /** The end of what it printed, for failure messages. */
  abstract logTail(): string;
  abstract signal(sig: NodeJS.Signals): void;
  abstract stop(): Promise<void>;

  /**
   * /health's body (a 503's too: its body says why), for a one-shot read. A loaded machine's child may
   * take seconds to answer: it gets `timeoutMs`, then the request's own error is thrown (a read that
   * gave undefined failed as `?.status` undefined or a TypeError, hiding why).
   */
  async readHealth(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return this.oneShot('/health', this.get('/health', timeoutMs, (body) => body.json() as Promise<Record<string, unknown>>));
  }

  /** /health's body, or undefined while the node does not answer: for polling (`until`), which asks again. */
  async health(): Promise<Record<string, unknown> | undefined> {
    return this.get('/health', 2000, (body) => body.json() as Promise<Record<string, unknown>>).catch(() => undefined);
  }

  /** A gauge or counter from /metrics (summed over its labels; 0 when absent), for a one-shot read: as `readHealth`. */
  async readMetric(name: string, timeoutMs = 10_000): Promise<number> {
    return sumOf(name, await this.oneShot('/metrics', this.get('/metrics', timeoutMs, (body) => body.text())));
  }

  /** The same, or undefined while the node does not answer: for polling. */
  async metric(name: string): Promise<number | undefined> {
    return this.get('/metrics', 2000, (body) => body.text()).then((text) => sumOf(name, text), () => undefined);
  }

  private async get<T>(path: string, timeoutMs: number, read: (body: Dispatcher.ResponseData['body']) => Promise<T>): Promise<T> {
    const res = await request(`${this.url}${path}`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    return read(res.body);
  }

  /** The node's name and log with a failed read's error (only here: a container's log is a `docker logs` call). */
  private async oneShot<T>(path: string, reply: Promise<T>): Promise<T> {
    try {
      return await reply;
    } catch (e) {
      throw new Error(`${this.name}: GET ${path} failed: ${(e as Error).message}\n${this.logTail()}`, { cause: e });
    }
  }

  /** Resolves when /health satisfies `pred`. */
  async until(pred: (h: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`${this.name} exited while waiting for ${what}:\n${this.logTail()}`);
      const h = await this.health();
      if (h && pred(h)) return h;
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out waiting for ${what}; health ${JSON.stringify(h)}\n${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

}

/** A gauge or counter in a /metrics text, summed over its labels. */
function sumOf(name: string, text: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** One engine node as a child process (`tsx engine/src/main.ts`), on a port chosen up front. */
export class NodeProcess extends EngineNode {
  readonly output: string[] = [];
  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {
    super();
    const keep = (d: Buffer) => {
      this.output.push(d.toString());
      if (this.output.length > 400) this.output.splice(0, 100);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
  }

  /** `env.PORT`, when given, is the port (chosen by the caller); otherwise a free one. `env.NODE_ARGS`: node flags (e.g. `--cpu-prof`). */
  static async start(name: string, env: Record<string, string>): Promise<NodeProcess> {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const proc = spawn(process.execPath, [...(env.NODE_ARGS ? env.NODE_ARGS.split(' ') : []), '--import', 'tsx', 'engine/src/main.ts'], {
      env: childEnv({ HOST: '127.0.0.1', NODE_ID: name, CLIENT_DIR: '', LOG_LEVEL: 'info', ...env, PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new NodeProcess(name, port, proc);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  logTail(): string {
    return this.output.join('').slice(-3000);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  /** SIGTERM (clean shutdown), SIGKILL if it takes too long; resolves when it has exited. */
  async stop(): Promise<void> {
    if (this.exited) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.proc.kill('SIGCONT');
      this.proc.kill('SIGTERM');
    });
  }
}
