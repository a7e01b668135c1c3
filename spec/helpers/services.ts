import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';

/**
 * Finds the real services a suite needs. On a user's machine a missing service skips the suite
 * with a plain message; under CI (CI=true) a missing service fails it, so nothing is skipped silently.
 */
const underCi = process.env.CI === 'true' || process.env.CI === '1';

export const REDIS_HOST = process.env.TEST_REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.TEST_REDIS_PORT ?? 6379);
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}/15`;
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAPROXY_PATH = process.env.HAPROXY_PATH ?? '/usr/sbin/haproxy';

function portOpen(host: string, port: number, timeoutMs = 800): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function need(what: string, available: boolean, why: string): Promise<boolean> {
  if (available) return true;
  if (underCi) throw new Error(`CI=true and ${what} is missing: ${why}`);
  console.warn(`\n  SKIPPED (${what} missing): ${why}\n`);
  return false;
}

/** true when a redis-server answers; use with describe.runIf(await hasRedis('suite name')). */
export async function hasRedis(suite: string): Promise<boolean> {
  return need('redis-server', await portOpen(REDIS_HOST, REDIS_PORT), `suite '${suite}' needs a redis-server at ${REDIS_HOST}:${REDIS_PORT}`);
}

/** The redis-server binary is on PATH (the suites that start their own, on a free port, need it). */
const redisBinary = () => spawnSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;

/**
 * true when the redis-server binary is installed: for suites that start their own on a free port (to
 * kill, pause or restart it); use with describe.runIf(await hasRedisServer('suite name')).
 */
export async function hasRedisServer(suite: string): Promise<boolean> {
  return need('redis-server', redisBinary(), `suite '${suite}' needs the redis-server binary (apt-get install redis-server)`);
}

/** true when /dev/full exists (Linux's always-full device): the specs of a full disk; use with it.runIf(await hasDevFull('spec name')). */
export async function hasDevFull(suite: string): Promise<boolean> {
  return need('/dev/full', existsSync('/dev/full'), `'${suite}' needs /dev/full (Linux) to stand in for a full disk`);
}

/** true when Debian's chromium is installed; use with describe.runIf(await hasChromium('suite name')). */
export async function hasChromium(suite: string): Promise<boolean> {
  return need('chromium', existsSync(CHROMIUM_PATH), `suite '${suite}' needs Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`);
}

/** true when HAProxy is installed (Debian's haproxy); use with describe.runIf(await hasHaproxy('suite name')). */
export async function hasHaproxy(suite: string): Promise<boolean> {
  return need('haproxy', existsSync(HAPROXY_PATH), `suite '${suite}' needs HAProxy at ${HAPROXY_PATH} (apt-get install haproxy)`);
}

/**
 * The Compose command line (`docker-compose`, or the `docker compose` plugin), or undefined with a
 * plain message (a failure under CI, as for the other services: .ci/run installs Debian's
 * docker-compose). Only its `config` check needs it; the topology the file describes is started as
 * child processes by compose-topology.int.spec.ts.
 */
export async function composeCommand(suite: string): Promise<string[] | undefined> {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore', timeout: 20_000 });
    if (r.status === 0) return cmd;
  }
  await need('docker-compose', false, `suite '${suite}' needs docker-compose or the docker compose plugin (apt-get install docker-compose)`);
  return undefined;
}

/**
 * The Compose command when a Docker daemon answers too (`docker info`), or undefined with a plain
 * message (a failure under CI: .ci/run installs and starts one). For `docker compose up` itself.
 */
export async function dockerCompose(suite: string): Promise<string[] | undefined> {
  const compose = await composeCommand(suite);
  if (!compose) return undefined;
  const up = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
  return (await need('docker', up, `suite '${suite}' needs a running Docker daemon (\`docker info\` failed)`)) ? compose : undefined;
}
