import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parse, stringify } from 'yaml';
import { childEnv } from './child-env.ts';
import { EngineNode } from './cluster-nodes.ts';
import type { Topology, TopologyStart } from './compose-suite.ts';
import { type ComposeService, HAPROXY_CONFIG_DIR, readCompose } from './compose-topology.ts';
import { freePort } from './redis-process.ts';

/** The images docker-compose.yml names by default (REDIS_IMAGE, HAPROXY_IMAGE, NODE_IMAGE replace them). */
const OFFICIAL = ['redis:7-alpine', 'haproxy:2.9-alpine', 'node:20-bookworm-slim'];

/**
 * The edge the README's "Adding an edge" adds: edge-2's service copied under this name, in the
 * override from the start but in a profile of its own, so `up -d edge-3` is what starts it.
 */
export const ADDED_EDGE = 'edge-3';

/** Runs a command to its end; rejects with its output when it fails. */
function run(cmd: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd.join(' ')} exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

const docker = (...args: string[]) => spawnSync('docker', args, { encoding: 'utf8', timeout: 60_000 });

/**
 * The base images to build and run with: the official ones when Docker has them or can pull them,
 * else stand-ins built from Debian's packages by deploy/offline-images.sh (no Docker Hub here).
 */
async function baseImages(): Promise<Record<string, string>> {
  if (process.env.NODE_IMAGE && process.env.REDIS_IMAGE && process.env.HAPROXY_IMAGE) return {};
  if (docker('image', 'inspect', ...OFFICIAL).status === 0) return {};
  if (OFFICIAL.every((image) => spawnSync('docker', ['pull', '-q', image], { stdio: 'ignore', timeout: 300_000 }).status === 0)) return {};
  console.warn('  compose up: Docker Hub is out of reach; building stand-in base images (deploy/offline-images.sh)');
  const out = await run(['bash', 'deploy/offline-images.sh']);
  const line = /^export (.*)$/m.exec(out);
  if (!line) throw new Error(`deploy/offline-images.sh printed no variables:\n${out}`);
  return Object.fromEntries(line[1]!.split(' ').map((kv) => kv.split('=') as [string, string]));
}

/** A service's container, reached on its address on Docker's bridge network (Linux hosts). */
class ContainerNode extends EngineNode {
  private killed = false;
  constructor(
    readonly name: string,
    private readonly id: string,
    private readonly ip: string,
    private readonly port: number,
  ) {
    super();
  }
  get url(): string {
    return `http://${this.ip}:${this.port}`;
  }
  get ws(): string {
    return `ws://${this.ip}:${this.port}`;
  }
  /** Killed by the spec (`docker kill` counts as a manual stop: no restart policy brings it back). */
  get exited(): boolean {
    return this.killed;
  }
  logTail(): string {
    const r = docker('logs', '--tail', '60', this.id);
    return `${r.stdout}${r.stderr}`;
  }
  signal(sig: NodeJS.Signals): void {
    const r = docker('kill', '-s', sig, this.id);
    if (r.status !== 0) throw new Error(`docker kill ${this.name}: ${r.stderr}`);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') this.killed = true;
  }
  async stop(): Promise<void> {
    this.killed = true;
    docker('stop', '-t', '10', this.id);
  }
}

/** `docker compose up` of docker-compose.yml as it is, in a project of its own, its load balancer on a free port. */
export class DockerTopology implements Topology {
  readonly nodes = new Map<string, ContainerNode>();
  private readonly containers = new Map<string, { id: string; ip: string }>();
  /** Services of the spec's override, not of the file (the added edge). */
  private readonly extra = new Map<string, ComposeService>();
  /** Length of HAProxy's output once every edge was up: lbLog() is what it printed after. */
  private lbBaseline = { out: 0, err: 0 };

  private constructor(
    readonly services: Map<string, ComposeService>,
    private readonly compose: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly lbPort: number,
    private readonly dir: string,
  ) {}

  /** Builds and starts every service of the default profile, waits until HAProxy has both edges up. */
  static async start(composeCmd: string[], o: TopologyStart): Promise<DockerTopology> {
    const dir = mkdtempSync(join(tmpdir(), 'compose-docker-'));
    const override = join(dir, 'override.yml');
    // The balancer's config directory is a copy the spec may edit, as an operator edits deploy/haproxy.
    cpSync('deploy/haproxy', join(dir, 'haproxy'), { recursive: true });
    const raw = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string> }> };
    const copied = raw.services['edge-2']!;
    const services: Record<string, unknown> = Object.fromEntries(Object.entries(o.extraEnv).map(([name, environment]) => [name, { environment }]));
    services.lb = { volumes: [`${join(dir, 'haproxy')}:${HAPROXY_CONFIG_DIR}:ro`] };
    services[ADDED_EDGE] = { ...copied, profiles: ['added'], environment: { ...copied.environment, NODE_ID: ADDED_EDGE } };
    writeFileSync(override, stringify({ services }));
    const lbPort = await freePort();
    // Compose interpolates the shell's SYMBOLS, SOURCE, … into the file: only the spec's own `vars` count.
    const env = childEnv({ ...o.vars, ...(await baseImages()), LB_PORT: String(lbPort) });
    const project = `klinesspec${process.pid}`;
    const compose = [...composeCmd, '-p', project, '-f', 'docker-compose.yml', '-f', override];
    const t = new DockerTopology(readCompose('docker-compose.yml', o.vars), compose, env, lbPort, dir);
    const edge2 = t.services.get('edge-2')!;
    t.extra.set(ADDED_EDGE, { ...edge2, name: ADDED_EDGE, environment: { ...edge2.environment, NODE_ID: ADDED_EDGE } });
    try {
      await run([...compose, 'up', '-d', '--build'], env);
      await t.discover();
      await Promise.all([...t.nodes.values()].map((n) => n.until((h) => h.status === 'ok', 120_000, `${n.name} ready`)));
      await t.untilEdgesUp(60_000);
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.lbPort}`;
  }

  get simUrl(): string {
    const port = this.services.get('sim')!.environment.SIM_PORT ?? '9900';
    return `http://${this.container('sim').ip}:${port}`;
  }

  node(name: string): ContainerNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no engine node '${name}'`);
    return n;
  }

  role(role: 'ingest' | 'edge'): ContainerNode[] {
    return [...this.nodes.values()].filter((n) => (this.services.get(n.name) ?? this.extra.get(n.name))!.environment.ROLE === role);
  }

  lbLog(): string {
    // Per stream: its request log goes to stdout, its own notices to stderr (docker logs keeps them apart).
    const s = this.lbOutput();
    return `${s.err.slice(this.lbBaseline.err)}${s.out.slice(this.lbBaseline.out)}`;
  }

  /**
   * The README's "Adding an edge", step by step: a server line in the balancer's config (saved as an
   * editor saves, a new file in place of the old), `docker compose up -d edge-3`, then
   * `docker compose kill -s HUP lb` (HAProxy's master reloads; its old worker keeps the open sockets).
   */
  async addEdge(): Promise<ContainerNode> {
    const cfg = join(this.dir, 'haproxy', 'haproxy.cfg');
    const port = this.extra.get(ADDED_EDGE)!.environment.PORT ?? '8000';
    writeFileSync(`${cfg}.new`, `${readFileSync(cfg, 'utf8').trimEnd()}\n  server ${ADDED_EDGE} ${ADDED_EDGE}:${port}\n`);
    renameSync(`${cfg}.new`, cfg);
    await run([...this.compose, 'up', '-d', ADDED_EDGE], this.env);
    await run([...this.compose, 'kill', '-s', 'HUP', 'lb'], this.env);
    await this.discover();
    return this.node(ADDED_EDGE);
  }

  /** `docker compose down -v`: containers, network and the Redis volume removed. */
  async stop(): Promise<void> {
    await run([...this.compose, 'down', '-v', '--remove-orphans', '-t', '5'], this.env).catch((e: unknown) => console.warn(`  compose down: ${(e as Error).message}`));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private container(service: string): { id: string; ip: string } {
    const c = this.containers.get(service);
    if (!c) throw new Error(`no container for service '${service}'`);
    return c;
  }

  private lbOutput(): { out: string; err: string } {
    const r = docker('logs', this.container('lb').id);
    return { out: r.stdout, err: r.stderr };
  }

  private async discover(): Promise<void> {
    const ids = (await run([...this.compose, 'ps', '-q'], this.env)).split('\n').filter(Boolean);
    const info = JSON.parse(docker('inspect', ...ids).stdout) as Array<{ Id: string; Config: { Labels: Record<string, string> }; NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>;
    for (const c of info) {
      const service = c.Config.Labels['com.docker.compose.service']!;
      // Found before (a later call finds a service added since): its node keeps what the spec did to it.
      if (this.containers.has(service)) continue;
      const ip = Object.values(c.NetworkSettings.Networks)[0]!.IPAddress;
      this.containers.set(service, { id: c.Id, ip });
      const s = this.services.get(service) ?? this.extra.get(service);
      if (s?.environment.ROLE) this.nodes.set(service, new ContainerNode(service, c.Id, ip, Number(s.environment.PORT ?? 8000)));
    }
  }

  /**
   * HAProxy starts before the edges answer (depends_on waits for their start, not their readiness):
   * its checks take them DOWN, then UP once ready. Waits for that, and for /health through it.
   */
  private async untilEdgesUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const edges = this.role('edge').map((n) => n.name);
    for (;;) {
      const log = this.lbOutput();
      const up = edges.every((e) =>
        [log.out, log.err].every((text) => {
          const last = [...text.matchAll(new RegExp(`edges/${e} is (UP|DOWN)`, 'g'))].at(-1);
          return !last || last[1] === 'UP';
        }),
      );
      let ok = false;
      try {
        const res = await request(`http://127.0.0.1:${this.lbPort}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
        await res.body.dump();
        ok = res.statusCode === 200;
      } catch {
        /* not listening yet */
      }
      if (up && ok) {
        this.lbBaseline = { out: log.out.length, err: log.err.length };
        return;
      }
      if (Date.now() > deadline) throw new Error(`haproxy did not bring both edges up:\n${log.err.slice(-3000)}\n${log.out.slice(-1000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
