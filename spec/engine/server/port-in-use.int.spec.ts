import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv } from '../../helpers/child-env.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { freePort } from '../../helpers/redis-process.ts';

/** `npm start`'s process with this environment: its exit code and what it wrote to stderr. */
const start = (env: Record<string, string>) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], { env: childEnv({ SOURCE: 'sim', SYMBOLS: 'BTCUSDT', INTERVALS: '1m', CLIENT_DIR: '', ...env }), encoding: 'utf8', timeout: 30_000 });

/**
 * A port already served is a configuration error, before anything starts. uWS listens with
 * SO_REUSEPORT: a second engine started on a port one already served listened too, without an error,
 * and the kernel split the connections between them (an attacker-style probe: 12 and 8 of 20).
 */
describe('an engine started on a port in use', () => {
  const started: NodeProcess[] = [];
  let other: Server | undefined;
  afterAll(async () => {
    await Promise.all(started.map((n) => n.stop()));
    other?.close();
  });

  it('exits 2 naming PORT when another engine serves it', async () => {
    const first = await NodeProcess.start('first', { SOURCE: 'sim', SYMBOLS: 'BTCUSDT', INTERVALS: '1m' });
    started.push(first);
    await first.until((h) => h.status === 'ok', 60_000, 'first engine ready');
    const r = start({ PORT: String(first.port), HOST: '127.0.0.1' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`configuration error: PORT="${first.port}" is invalid: expected a port nothing listens on \\(127\\.0\\.0\\.1:${first.port} is in use`));
    // The first one still answers every request.
    for (let i = 0; i < 5; i++) expect((await first.health())?.status).toBe('ok');
  }, 90_000);

  it('exits 2 naming PORT when any other process listens there, and HOST when it is no address of this machine', async () => {
    const port = await freePort();
    other = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => other!.once('listening', r));
    const busy = start({ PORT: String(port), HOST: '127.0.0.1' });
    expect(busy.status).toBe(2);
    expect(busy.stderr).toMatch(/configuration error: PORT=".*" is invalid: expected a port nothing listens on/);
    const badHost = start({ PORT: String(await freePort()), HOST: '192.0.2.1' });
    expect(badHost.status).toBe(2);
    expect(badHost.stderr).toMatch(/configuration error: HOST="192.0.2.1" is invalid: expected an address of this machine to listen on \(EADDRNOTAVAIL\)/);
    // PORT=0 (any free port, `npm run record`'s default) checks the host too (it was uWS's error: exit 1, no variable named).
    const badHostAnyPort = start({ PORT: '0', HOST: '192.0.2.1' });
    expect(badHostAnyPort.status).toBe(2);
    expect(badHostAnyPort.stderr).toMatch(/configuration error: HOST="192.0.2.1" is invalid: expected an address of this machine to listen on \(EADDRNOTAVAIL\)/);
  }, 90_000);
});
