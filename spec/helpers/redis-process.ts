import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A free TCP port on loopback (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A redis-server of the test's own, on a free port, in a temporary directory: the cluster suites
 * kill, pause and restart it, which they must never do to the shared one on 6379.
 * `aof: true` keeps its data across restarts (appendfsync always); false starts it empty each time.
 * `args` replaces those persistence settings with a command line's own (docker-compose.yml's redis).
 */
export class RedisProcess {
  private proc: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'cluster-redis-'));

  private constructor(
    readonly port: number,
    private readonly aof: boolean,
    private readonly args?: string[],
  ) {}

  static async start(opts: { aof?: boolean; args?: string[] } = {}): Promise<RedisProcess> {
    const r = new RedisProcess(await freePort(), opts.aof ?? false, opts.args);
    await r.restart();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** (Re)starts the server and resolves once it answers PING. */
  async restart(): Promise<void> {
    await this.kill();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'warning'];
    args.push(...(this.args ?? ['--save', '', ...(this.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])]));
    if (!this.aof) rmSync(join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      // Refused while it starts: expected. Asking for a password (`--requirepass`): it is up.
      let locked = false;
      c.on('error', (e: Error) => (locked ||= /NOAUTH/.test(e.message)));
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') return;
      } catch {
        if (locked) return;
        if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        c.disconnect();
      }
    }
  }

  /** Kills the server (SIGKILL: no shutdown save) and waits for it to exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
