import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HAPROXY_CONFIG_DIR, interpolate, readCompose, readDockerfile, startWaves } from '../helpers/compose-topology.ts';
import { composeCommand } from '../helpers/services.ts';

/**
 * docker-compose.yml and deploy/haproxy/haproxy.cfg as files: Compose accepts the file (when its command is
 * installed), and what the files say of each other holds (every edge is a HAProxy server, every
 * server an edge; the nodes point at the services that exist). compose-topology.int.spec.ts runs them.
 */
const compose = await composeCommand('docker-compose config');

describe('docker-compose.yml', () => {

  it.runIf(compose)('is accepted by `docker-compose config`', () => {
    const r = spawnSync(compose![0]!, [...compose!.slice(1), '-f', 'docker-compose.yml', 'config', '--quiet'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
  });

  it('interpolates like Compose', () => {
    expect(interpolate('${A:-x} ${B-y} ${C:-z} $A $$A ${D}', { A: 'a', B: '', C: '' })).toBe('a  z a $A ');
  });

  const services = readCompose('docker-compose.yml', {});
  const env = (name: string) => services.get(name)!.environment;

  it('names two ingest nodes and two edges, with the image built by the Dockerfile', () => {
    const roles = [...services.values()].filter((s) => s.profiles.length === 0).map((s) => `${s.name}:${s.environment.ROLE ?? '-'}`);
    expect(roles.sort()).toEqual(['edge-1:edge', 'edge-2:edge', 'ingest-1:ingest', 'ingest-2:ingest', 'lb:-', 'redis:-', 'sim:-']);
    expect(readDockerfile('Dockerfile').cmd).toEqual(['node', '--import', 'tsx', 'engine/src/main.ts']);
    for (const n of ['ingest-1', 'ingest-2', 'edge-1', 'edge-2']) {
      expect(services.get(n)!.command).toEqual(['node', '--import', 'tsx', 'engine/src/main.ts']);
      expect(env(n).REDIS_URL).toBe('redis://redis:6379/0');
      expect(env(n).NODE_ID).toBe(n);
      expect(services.get(n)!.dependsOn).toContain('redis');
    }
    for (const n of ['ingest-1', 'ingest-2']) {
      expect(env(n)).toMatchObject({ SOURCE: 'binance', BINANCE_REST_URL: `http://sim:${env('sim').SIM_PORT}`, BINANCE_WS_URL: `ws://sim:${env('sim').SIM_PORT}` });
      expect(services.get(n)!.dependsOn).toContain('sim');
    }
    // Redis keeps its data (AOF): a restart keeps the candles.
    expect(services.get('redis')!.command.join(' ')).toMatch(/--appendonly yes/);
    // Each wave depends only on earlier ones: redis and sim, then the nodes, then the balancer.
    expect(startWaves(services).map((w) => w.map((s) => s.name).sort())).toEqual([['redis', 'sim'], ['edge-1', 'edge-2', 'ingest-1', 'ingest-2'], ['lb']]);
  });

  it('and deploy/haproxy/haproxy.cfg agree: the balancer mounts its directory, listens on the published port and has exactly the edges as servers', () => {
    const lb = services.get('lb')!;
    // The directory where the image reads its config (a file mount would miss an editor's replaced file).
    expect(lb.volumes).toContain(`./deploy/haproxy:${HAPROXY_CONFIG_DIR}:ro`);
    const cfg = readFileSync('deploy/haproxy/haproxy.cfg', 'utf8');
    const servers = [...cfg.matchAll(/^\s*server\s+(\S+)\s+([^:\s]+):(\d+)/gm)].map((m) => ({ name: m[1], host: m[2], port: m[3] }));
    const edges = [...services.values()].filter((s) => s.environment.ROLE === 'edge');
    expect(servers.map((s) => s.host).sort()).toEqual(edges.map((e) => e.name).sort());
    for (const s of servers) expect(s.port).toBe(services.get(s.host!)!.environment.PORT);
    expect(lb.dependsOn.sort()).toEqual(edges.map((e) => e.name).sort());
    expect(cfg).toMatch(new RegExp(`^\\s*bind\\s+:${lb.ports[0]!.split(':').at(-1)}\\b`, 'm'));
    // Readiness: an edge that is not ready (Redis lost, series loading) answers /health with 503. The
    // check speaks HTTP/1.1 with a Host (the engine's server does not answer HAProxy's default HTTP/1.0).
    expect(cfg).toMatch(/^\s*option httpchk\b/m);
    expect(cfg).toMatch(/^\s*http-check send meth GET uri \/health ver HTTP\/1\.1 hdr Host \S+/m);
  });
});
