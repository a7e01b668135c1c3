import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv } from '../../helpers/child-env.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const children: ChildProcess[] = [];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry with tsx's loader; `onOut` may act on stdout as it arrives (e.g. send a signal). */
function run(file: string, env: Record<string, string>, timeoutMs: number, onOut?: (stdout: string, child: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    // As `npm run sim` runs it: node with tsx's loader, no tsx parent (which SIGKILLs its child when it
    // reports a relayed signal later than 30 ms: a busy CI saw exit 143 instead of 0).
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`${file} did not exit within ${timeoutMs} ms; stdout ${stdout} stderr ${stderr}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      onOut?.(stdout, child);
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('simulated exchange lifecycle', () => {
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('close() releases every socket and timer: the process exits by itself', async () => {
    const r = await run('spec/engine/sim/close-probe.ts', {}, 20_000);
    expect(r.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { frames: number; closed: boolean; refused: boolean };
    expect(report).toEqual({ frames: expect.any(Number), closed: true, refused: true });
    expect(report.frames).toBeGreaterThan(0);
  });

  it('npm run sim: logs the REST and WS URLs, serves them, and exits 0 on SIGTERM', async () => {
    let checked: Promise<[number, number, number]> | undefined;
    const start = Date.UTC(2024, 2, 20, 12);
    const env = { SIM_PORT: '0', SIM_SEED: '3', SIM_SPEED: '2.5', SIM_PUSH_MS: '500', SIM_START: '2024-03-20T12:00:00Z', SIM_UNIVERSE: '40' };
    const r = await run('engine/sim/main.ts', env, 20_000, (out, child) => {
      const m = /REST (http:\/\/\S+)\s+WS (ws:\/\/\S+)/.exec(out);
      if (!m || checked) return;
      checked = Promise.all([fetch(`${m[1]}/api/v3/time`), fetch(`${m[1]}/api/v3/exchangeInfo?symbolStatus=TRADING`)]).then(async ([time, info]) => {
        child.kill('SIGTERM');
        const { serverTime } = (await time.json()) as { serverTime: number };
        const { symbols } = (await info.json()) as { symbols: unknown[] };
        return [time.status, serverTime, symbols.length];
      });
    });
    const [status, serverTime, trading] = (await checked)!;
    expect(status).toBe(200);
    // SIM_START sets the sim clock (running 2.5x since the start).
    expect(serverTime).toBeGreaterThanOrEqual(start);
    expect(serverTime).toBeLessThan(start + 60_000);
    expect(trading).toBe(40);
    expect(r.stdout).toMatch(/REST http:\/\/127\.0\.0\.1:\d+\s+WS ws:\/\/127\.0\.0\.1:\d+/);
    expect(r.code).toBe(0);
  });

  it.each([
    ['SIM_PORT', '70000'],
    ['SIM_SPEED', 'fast'],
    ['SIM_SEED', '-1'],
    ['SIM_PUSH_MS', '5'],
    ['SIM_HOST', 'not a host'],
    ['SIM_START', 'yesterday'],
    ['SIM_UNIVERSE', '0'],
  ])('a bad %s=%s exits 1 naming the variable', async (name, value) => {
    const r = await run('engine/sim/main.ts', { SIM_PORT: '0', [name]: value }, 20_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(name);
  });

  it('a SIM_PORT in use exits 1 with a plain message naming it (was: a stack trace)', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = String((taken.address() as { port: number }).port);
      const r = await run('engine/sim/main.ts', { SIM_PORT: port, SIM_HOST: '127.0.0.1' }, 20_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^configuration error: SIM_HOST=127\\.0\\.0\\.1 SIM_PORT=${port}: the port is in use`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  });
});
