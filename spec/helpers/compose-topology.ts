import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parse } from 'yaml';
import { childEnv } from './child-env.ts';
import { NodeProcess } from './cluster-nodes.ts';
import { RedisProcess, freePort } from './redis-process.ts';
import { HAPROXY_PATH } from './services.ts';

/**
 * docker-compose.yml's topology as child processes on loopback: each service started with the
 * command and environment the compose file (and the Dockerfile it builds) gives it, in its
 * `depends_on` order, and HAProxy with deploy/haproxy/haproxy.cfg. What is translated, and only that:
 * - a service's host name becomes 127.0.0.1 and each listening port a free one (`redis:6379`,
 *   `sim:9900`, `edge-1:8000`, HAProxy's `bind :8000`); 0.0.0.0 becomes 127.0.0.1;
 * - `node --import tsx <file>` runs as it is (with this node), redis-server gets a temporary
 *   directory for its volume;
 * - HAProxy's health-check interval may be shortened (`checkInter`), and when this machine's file
 *   descriptor limit is below what `maxconn` needs, its connection limit is lowered with `-n`.
 */

type Env = Record<string, string>;

/** Where the haproxy image reads its config (haproxy.cfg): the lb service mounts deploy/haproxy there. */
export const HAPROXY_CONFIG_DIR = '/usr/local/etc/haproxy';

export interface ComposeService {
  name: string;
  /** The compose `command`, else the Dockerfile's CMD for `build: .`. */
  command: string[];
  /** The Dockerfile's ENV (for `build: .`), then the compose `environment`, interpolated. */
  environment: Env;
  dependsOn: string[];
  profiles: string[];
  /** The restart policy (`no` when absent). */
  restart: string;
  image?: string;
  ports: string[];
  volumes: string[];
}

/** Compose's variable substitution: `${V}`, `${V:-default}`, `${V-default}`, `$V`, `$$`. */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, braced?: string, colon?: string, dflt?: string, bare?: string) => {
    if (m === '$$') return '$';
    const v = vars[(braced ?? bare)!];
    if (dflt !== undefined && (v === undefined || (colon === ':' && v === ''))) return dflt;
    return v ?? '';
  });
}

function interpolateAll(node: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, vars));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, vars)]));
  return node;
}

/** ENV and CMD (exec form) of a Dockerfile. */
export function readDockerfile(path: string): { env: Env; cmd: string[] } {
  const env: Env = {};
  let cmd: string[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*(ENV|CMD)\s+(.*)$/.exec(line);
    if (m?.[1] === 'ENV') for (const pair of m[2]!.trim().split(/\s+/)) env[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
    else if (m?.[1] === 'CMD') cmd = JSON.parse(m[2]!) as string[];
  }
  return { env, cmd };
}

const asEnv = (e: unknown): Env => {
  if (Array.isArray(e)) return Object.fromEntries(e.map((kv: string) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries((e ?? {}) as Record<string, unknown>).map(([k, v]) => [k, v === null ? '' : String(v)]));
};

/** The services of a compose file (YAML merge keys and `${…}` resolved against `vars`). */
export function readCompose(file = 'docker-compose.yml', vars: Record<string, string | undefined> = {}): Map<string, ComposeService> {
  const doc = interpolateAll(parse(readFileSync(file, 'utf8'), { merge: true }), vars) as { services: Record<string, Record<string, unknown>> };
  const dockerfile = readDockerfile('Dockerfile');
  const out = new Map<string, ComposeService>();
  for (const [name, s] of Object.entries(doc.services)) {
    const built = s.build !== undefined;
    const deps = s.depends_on;
    out.set(name, {
      name,
      command: (s.command as string[] | undefined) ?? (built ? dockerfile.cmd : []),
      environment: { ...(built ? dockerfile.env : {}), ...asEnv(s.environment) },
      dependsOn: Array.isArray(deps) ? (deps as string[]) : Object.keys((deps ?? {}) as object),
      profiles: (s.profiles as string[] | undefined) ?? [],
      restart: (s.restart as string | undefined) ?? 'no',
      image: s.image as string | undefined,
      ports: ((s.ports as unknown[] | undefined) ?? []).map(String),
      volumes: ((s.volumes as unknown[] | undefined) ?? []).map(String),
    });
  }
  return out;
}

/**
 * The services of the default profile in waves: each wave's services depend only on earlier waves
 * (started together, as compose does).
 */
export function startWaves(services: Map<string, ComposeService>): ComposeService[][] {
  const wanted = [...services.values()].filter((s) => s.profiles.length === 0);
  for (const s of wanted) for (const d of s.dependsOn) if (!services.has(d)) throw new Error(`${s.name}: depends_on names '${d}', which is not a service`);
  const started = new Set<string>();
  const waves: ComposeService[][] = [];
  while (started.size < wanted.length) {
    const wave = wanted.filter((s) => !started.has(s.name) && s.dependsOn.every((d) => started.has(d)));
    if (!wave.length) throw new Error(`depends_on cycle among ${wanted.filter((s) => !started.has(s.name)).map((s) => s.name).join(', ')}`);
    for (const s of wave) started.add(s.name);
    waves.push(wave);
  }
  return waves;
}

/** A plain child process (the simulator) with its output kept for failure messages. */
class ChildService {
  readonly output: string[] = [];
  /** Resolves when it has exited and its output is read to the end. */
  readonly closed: Promise<void>;
  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.closed = new Promise((resolve) => proc.once('close', () => resolve()));
    const keep = (d: Buffer) => {
      this.output.push(d.toString());
      if (this.output.length > 200) this.output.splice(0, 50);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
  }
  get exited() {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }
  /** Resolves once its output matches `re`. */
  async until(re: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.output.join(''))) {
      if (this.exited || Date.now() > deadline) throw new Error(`${this.name} did not print ${re} (exit ${this.proc.exitCode ?? this.proc.signalCode}):\n${this.output.join('').slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exited) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.proc.kill(signal);
    });
  }
}

export interface TopologyOptions {
  /** The shell's variables compose interpolates (`SYMBOLS`, `INTERVALS`, …); nothing else of process.env is used. */
  vars?: Record<string, string>;
  /** Per service, variables added on top of the compose file's (the test's only knobs, e.g. the simulator's pace). */
  extraEnv?: Record<string, Env>;
  /** HAProxy's `inter` for health checks instead of the shipped one. */
  checkInter?: string;
}

/** The running topology: its Redis, simulator, engine nodes and HAProxy. */
export class ComposeTopology {
  readonly nodes = new Map<string, NodeProcess>();
  redis: RedisProcess | undefined;
  private sim: ChildService | undefined;
  private lb: ChildService | undefined;
  /** Loopback port of each service (what `service:port` in the files became). */
  readonly ports = new Map<string, number>();
  readonly haproxyConfig: string[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'compose-topology-'));

  private constructor(readonly services: Map<string, ComposeService>) {}

  /** Starts every service of the default profile; on a failure stops what started, then throws. */
  static async start(opts: TopologyOptions = {}): Promise<ComposeTopology> {
    const t = new ComposeTopology(readCompose('docker-compose.yml', opts.vars ?? {}));
    try {
      for (const wave of startWaves(t.services)) {
        const results = await Promise.allSettled(wave.map((s) => t.startService(s, opts)));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      }
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  get url(): string {
    return `http://127.0.0.1:${this.ports.get(this.lbName)}`;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.ports.get(this.lbName)}`;
  }

  get simUrl(): string {
    return `http://127.0.0.1:${this.ports.get('sim')}`;
  }

  private get lbName(): string {
    return [...this.services.values()].find((s) => s.image?.startsWith('haproxy'))!.name;
  }

  node(name: string): NodeProcess {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no engine node '${name}'`);
    return n;
  }

  /** Engine nodes whose compose environment has ROLE=`role`. */
  role(role: 'ingest' | 'edge'): NodeProcess[] {
    return [...this.nodes.values()].filter((n) => this.services.get(n.name)!.environment.ROLE === role);
  }

  /** `service:port` → 127.0.0.1:its port, for services already started (depends_on must say so). */
  private mapHosts(owner: string, value: string): string {
    const v = value.replace(/(^|[/@\s])([a-z0-9][a-z0-9_.-]*):(\d+)/gi, (m, pre: string, host: string) => {
      if (!this.services.has(host)) return m;
      const port = this.ports.get(host);
      if (port === undefined) throw new Error(`${owner} refers to ${host}, which is not started before it (depends_on)`);
      return `${pre}127.0.0.1:${port}`;
    });
    return v === '0.0.0.0' ? '127.0.0.1' : v;
  }

  private env(s: ComposeService, opts: TopologyOptions): Env {
    const env: Env = {};
    for (const [k, v] of Object.entries(s.environment)) env[k] = this.mapHosts(s.name, v);
    return { ...env, ...opts.extraEnv?.[s.name] };
  }

  private async startService(s: ComposeService, opts: TopologyOptions): Promise<void> {
    const [bin, ...args] = s.command;
    if (bin === 'redis-server') {
      this.redis = await RedisProcess.start({ args });
      this.ports.set(s.name, this.redis.port);
    } else if (s.image?.startsWith('haproxy')) {
      await this.startHaproxy(s, opts);
    } else if (bin === 'node' && args.join(' ') === '--import tsx engine/src/main.ts') {
      const env = this.env(s, opts);
      const port = await freePort();
      // The image serves its built client (dist/client); specs that want it set CLIENT_DIR in extraEnv.
      // Ready (every configured series loaded) before what depends on it, as HAProxy's check would
      // have it. A node that exits while starting (on a busy machine a series module can miss its
      // load time limit) is started again when the file's restart policy says so, as Docker would.
      for (let attempt = 1; ; attempt++) {
        const node = await NodeProcess.start(s.name, { ...env, PORT: String(port) });
        this.nodes.set(s.name, node);
        this.ports.set(s.name, port);
        try {
          await node.until((h) => h.status === 'ok', 90_000, `${s.name} ready`);
          break;
        } catch (e) {
          if (!node.exited || s.restart === 'no' || attempt === 3) throw e;
          console.warn(`  ${s.name} exited while starting; restarted (restart: ${s.restart}):\n${node.output.join('').slice(-500)}`);
        }
      }
    } else if (bin === 'node' && args.join(' ') === '--import tsx engine/sim/main.ts') {
      // A free port can be taken by another process before the simulator binds it (a CI run saw
      // EADDRINUSE): another one then.
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        this.ports.set(s.name, port);
        const env = { ...this.env(s, opts), SIM_PORT: String(port) };
        const sim = new ChildService(s.name, spawn(process.execPath, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
        this.sim = sim;
        try {
          await sim.until(/simulated exchange: REST/, 30_000);
          break;
        } catch (e) {
          if (attempt === 3 || !sim.output.join('').includes('EADDRINUSE')) throw e;
        }
      }
    } else {
      throw new Error(`service ${s.name}: no way to run '${s.command.join(' ')}' (image ${s.image}) as a child process`);
    }
  }

  /** deploy/haproxy/haproxy.cfg (in the compose volume's directory) with addresses and ports mapped, run in the foreground. */
  private async startHaproxy(s: ComposeService, opts: TopologyOptions): Promise<void> {
    const volume = s.volumes.find((v) => v.split(':')[1] === HAPROXY_CONFIG_DIR);
    if (!volume) throw new Error(`${s.name}: no volume at ${HAPROXY_CONFIG_DIR}`);
    const container = s.ports[0]!.split(':').at(-1);
    const port = await freePort();
    this.ports.set(s.name, port);
    const shipped = readFileSync(join(volume.split(':')[0]!, 'haproxy.cfg'), 'utf8');
    const cfg = shipped
      .split('\n')
      .map((line) => {
        const bind = /^(\s*bind\s+)\S*:(\d+)(.*)$/.exec(line);
        if (bind && bind[2] === container) return `${bind[1]}127.0.0.1:${port}${bind[3]}`;
        const check = opts.checkInter ? line.replace(/\binter\s+\S+/, `inter ${opts.checkInter}`) : line;
        return /^\s*server\s/.test(check) ? this.mapHosts(s.name, check) : check;
      })
      .join('\n');
    const file = join(this.dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    this.haproxyConfig.push(cfg);
    const run = (extra: string[]) => new ChildService(s.name, spawn(HAPROXY_PATH, [...extra, '-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let lb = (this.lb = run([]));
    let limited = false;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (lb.exited) await lb.closed;
      const fd = /Cannot raise FD limit to \d+, limit is (\d+)/.exec(lb.output.join(''));
      if (lb.exited && fd && !limited) {
        limited = true;
        // This machine's file descriptor limit is below what the shipped maxconn needs (a container
        // gets a high one): the same configuration, with fewer connections allowed from the command line.
        const n = Math.floor((Number(fd[1]) - 100) / 2);
        console.warn(`  haproxy: file descriptor limit ${fd[1]}: running with -n ${n} instead of the configured maxconn`);
        lb = this.lb = run(['-n', String(n)]);
        continue;
      }
      if (lb.exited) throw new Error(`haproxy exited:\n${lb.output.join('')}`);
      try {
        const res = await request(`${this.url}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
        await res.body.dump();
        if (res.statusCode === 200) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`haproxy did not answer /health with 200:\n${lb.output.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Servers start UP; HAProxy's own health checks take them DOWN after `fall` failures. Let a few
    // rounds run: a check the edges cannot answer (HAProxy's default HTTP/1.0 one) shows up here.
    const inter = /\binter\s+(\d+)(ms|s)\b/.exec(cfg);
    const fall = Number(/\bfall\s+(\d+)/.exec(cfg)?.[1] ?? 3);
    const interMs = inter ? Number(inter[1]) * (inter[2] === 's' ? 1000 : 1) : 2000;
    await new Promise((r) => setTimeout(r, (fall + 2) * interMs));
    if (/ is DOWN/.test(this.lbLog())) throw new Error(`haproxy's health checks take the edges down:\n${this.lbLog()}`);
  }

  /** What HAProxy printed (server state changes: `Server edges/edge-1 is DOWN, reason: …`). */
  lbLog(): string {
    return this.lb?.output.join('') ?? '';
  }

  /** Everything stopped (HAProxy first, Redis last) and the temporary files removed. */
  async stop(): Promise<void> {
    await this.lb?.stop();
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    await this.sim?.stop();
    await this.redis?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
