import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'undici';
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

  /** /health's body, or undefined while the node does not answer. */
  async health(): Promise<Record<string, unknown> | undefined> {
    try {
      const res = await request(`${this.url}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
      return (await res.body.json()) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** A gauge or counter from /metrics (summed over its labels), or undefined while the node does not answer. */
  async metric(name: string): Promise<number | undefined> {
    try {
      const res = await request(`${this.url}/metrics`, { headersTimeout: 2000, bodyTimeout: 2000 });
      const text = await res.body.text();
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (m?.[1] === name) sum += Number(m[3]);
      }
      return sum;
    } catch {
      return undefined;
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
