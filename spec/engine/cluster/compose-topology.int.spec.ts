import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { composeTopologySuite } from '../../helpers/compose-suite.ts';
import { ComposeTopology } from '../../helpers/compose-topology.ts';
import { hasHaproxy, hasRedisServer } from '../../helpers/services.ts';

/**
 * docker-compose.yml's topology as child processes (spec/helpers/compose-topology.ts): Redis with the
 * file's own arguments (AOF), the simulator, ingest-1 and ingest-2, edge-1 and edge-2 with the
 * environment the file gives them, and HAProxy running deploy/haproxy/haproxy.cfg (health checks every
 * 500 ms). This proves that the compose file and the HAProxy configuration work together without
 * Docker; spec/deploy/compose-up.docker.spec.ts runs the same checks on `docker compose up`.
 */
/** The status of `GET /health` sent from `localAddress`. */
function statusFrom(localAddress: string, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let head = '';
    const s = connect({ host, port, localAddress }, () => s.write(`GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (head += d));
    s.on('error', reject);
    s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)));
  });
}

describe.runIf((await hasRedisServer('compose topology')) && (await hasHaproxy('compose topology')))('docker-compose.yml as child processes, clients through haproxy', () => {
  composeTopologySuite((o) => ComposeTopology.start({ ...o, checkInter: '500ms' }), {
    more: ({ topo }) => {
      it('the balancer holds at most 512 connections per client address (idle ones took a node\'s descriptors); other addresses are served', async () => {
        const { hostname, port } = new URL(topo().ws);
        const sockets: Socket[] = [];
        let closed = 0;
        const opened = (s: Socket) => new Promise<void>((resolve) => s.once('connect', resolve).once('error', resolve).once('close', resolve));
        try {
          for (let i = 0; i < 600; i++) {
            const s = connect({ host: hostname, port: Number(port) });
            s.on('error', () => undefined).once('close', () => closed++);
            sockets.push(s);
          }
          await Promise.all(sockets.map(opened));
          // The suite's 20 clients hold some of this address's 512.
          // HAProxy (a child process) closes the ones over its limit: a loaded machine takes longer over 600.
          await expect.poll(() => closed, { timeout: 15_000 }).toBeGreaterThanOrEqual(600 - 512 + 20);
          await new Promise((r) => setTimeout(r, 500));
          expect(600 - closed).toBeLessThanOrEqual(512 - 20);
          // Another client address (a raw request: undici's Agent does not bind a local address).
          expect(await statusFrom('127.0.0.2', hostname, Number(port))).toBe(200);
        } finally {
          for (const s of sockets) s.destroy();
        }
      }, 30_000);
    },
  });
});
