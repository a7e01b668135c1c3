import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { childEnv } from '../../helpers/child-env.ts';
import { until } from '../../helpers/until.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `engine/src/main.ts` as users do, and resolves once it listens. */
async function startEngineProcess(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
    env: childEnv({ PORT: String(port), HOST: '127.0.0.1', CLIENT_DIR: '', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = { out: '' };
  child.stdout.on('data', (d) => (log.out += d));
  child.stderr.on('data', (d) => (log.out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!log.out.includes('engine listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return { child, port, log, exited };
}

describe('process lifecycle', () => {
  it('on SIGINT stops accepting, closes clients with 1001 and exits 0', async () => {
    const { child, port, log, exited } = await startEngineProcess({ SOURCE: 'sim', SYMBOLS: 'BTCUSDT', INTERVALS: '1m' });
    const out = log.out;
    expect(out).toMatch(/uWebSockets\.js build: native/);
    expect(out).toMatch(/engine listening on http:\/\/127\.0\.0\.1:\d+/);
    const client = new EngineClient(`ws://127.0.0.1:${port}/ws/BTCUSDT`);
    await client.until((c) => c.historical() !== undefined, 15_000, 'historical');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await client.until((c) => c.closeCode !== undefined, 5000, 'close');
    expect(client.closeCode).toBe(1001);
    expect(log.out).toMatch(/engine stopped/);
  });

  it('exits at once, saying so, on a signal that comes while it starts (reproduced: killed, nothing said)', async () => {
    // An edge whose Redis does not answer waits for it: a start that does not end.
    const redisPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
      env: childEnv({ ROLE: 'edge', REDIS_URL: `redis://127.0.0.1:${redisPort}/15`, PORT: String(await freePort()), HOST: '127.0.0.1', CLIENT_DIR: '' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(() => out.length > 0, 20_000, 'the edge logging as it starts');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toMatch(/SIGTERM received while starting: exiting/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('keeps serving after SIGUSR1 (reproduced: hyper-express closed the listening socket, the process ran on serving nothing)', async () => {
    const { child, port, exited } = await startEngineProcess({ SOURCE: 'sim', SYMBOLS: 'BTCUSDT', INTERVALS: '1m' });
    // A new connection each time (a kept-alive one outlives a closed listening socket).
    const live = () =>
      new Promise<number | undefined>((resolve) => {
        get({ host: '127.0.0.1', port, path: '/livez', agent: false }, (res) => (res.resume(), resolve(res.statusCode))).on('error', () => resolve(undefined));
      });
    try {
      expect(await live()).toBe(200);
      child.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, 500));
      expect(await live()).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('SOURCE=auto without internet says loudly that it runs on the simulator (never printing a password in the URL)', async () => {
    // An unroutable REST URL stands in for "no internet" deterministically.
    const { child, log, exited } = await startEngineProcess({ SOURCE: 'auto', BINANCE_REST_URL: 'http://user:hunter2@127.0.0.1:9', SYMBOLS: 'ETHUSDT', INTERVALS: '1m' });
    const out = log.out;
    expect(out).toMatch(/SIMULATED exchange/);
    expect(out).toMatch(/Binance \(http:\/\/user:\*\*\*@127\.0\.0\.1:9\)/);
    expect(out).not.toContain('hunter2');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
