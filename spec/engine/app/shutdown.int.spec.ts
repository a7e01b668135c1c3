import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { EngineClient } from '../../helpers/ws-client.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('process lifecycle', () => {
  it('on SIGINT stops accepting, closes clients with 1001 and exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
      env: { ...process.env, SOURCE: 'sim', PORT: String(port), HOST: '127.0.0.1', SYMBOLS: 'BTCUSDT', INTERVALS: '1m', CLIENT_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!out.includes('engine listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/uWebSockets\.js build: native/);
    expect(out).toMatch(/engine listening on http:\/\/127\.0\.0\.1:\d+/);
    const client = new EngineClient(`ws://127.0.0.1:${port}/ws/BTCUSDT`);
    await client.until((c) => c.historical() !== undefined, 15_000, 'historical');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await client.until((c) => c.closeCode !== undefined, 5000, 'close');
    expect(client.closeCode).toBe(1001);
    expect(out).toMatch(/engine stopped/);
  });

  it('SOURCE=auto without internet says loudly that it runs on the simulator', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
      // An unroutable REST URL stands in for "no internet" deterministically.
      env: { ...process.env, SOURCE: 'auto', BINANCE_REST_URL: 'http://127.0.0.1:9', PORT: String(port), HOST: '127.0.0.1', SYMBOLS: 'ETHUSDT', INTERVALS: '1m', CLIENT_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!out.includes('engine listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/SIMULATED exchange/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
