import { describe, expect, it } from 'vitest';
import { ClusterClient, expectContiguous, liveAfter } from '../helpers/cluster-client.ts';
import { ADDED_EDGE, DockerTopology } from '../helpers/compose-docker.ts';
import { composeTopologySuite } from '../helpers/compose-suite.ts';
import { dockerCompose } from '../helpers/services.ts';

/**
 * `docker compose up` of docker-compose.yml as it is (images built by the Dockerfile; official base
 * images, or deploy/offline-images.sh's stand-ins where Docker Hub is out of reach), then the checks
 * compose-topology.int.spec.ts makes on the same topology as child processes: clients through
 * HAProxy, an edge killed, then the leader, with no hole, no duplicate and the same epoch. Then the
 * README's "Adding an edge", as written.
 */
const compose = await dockerCompose('docker compose up');

describe.runIf(compose)('docker compose up, clients through haproxy', () => {
  composeTopologySuite((o) => DockerTopology.start(compose!, o), {
    startTimeoutMs: 900_000,
    more: ({ topo, clients }) => {
      it(`adding an edge as the README says (a server line, up -d ${ADDED_EDGE}, kill -s HUP lb): new clients reach it, open sockets stay`, async () => {
        const reconnects = clients.map((c) => c.reconnects);
        const added = await topo().addEdge();
        await added.until((h) => h.status === 'ok', 120_000, `${ADDED_EDGE} ready`);
        // The reloaded balancer checks it (rise 2, every 2 s) before sending it anything.
        const fresh: ClusterClient[] = [];
        try {
          await expect
            .poll(
              async () => {
                const c = new ClusterClient(() => [topo().ws], '/ws/BTCUSDT?interval=1m');
                fresh.push(c);
                await liveAfter([c], 1, 20_000);
                return (await added.metric('engine_clients_connected')) ?? 0;
              },
              { timeout: 60_000, interval: 1000 },
            )
            .toBeGreaterThan(0)
            .catch((e: Error) => {
              throw new Error(`no client reached ${ADDED_EDGE}: ${e.message}\nhaproxy said:\n${topo().lbLog().slice(-3000)}`);
            });
          // leastconn by the reloaded worker's own counts (the suite's sockets are the old worker's): the
          // new edge holds no more than the other of those, so of four more clients some reach it.
          const before = await added.readMetric('engine_clients_connected');
          const more = Array.from({ length: 4 }, () => new ClusterClient(() => [topo().ws], '/ws/BTCUSDT?interval=1m'));
          fresh.push(...more);
          await liveAfter(more, 3, 30_000);
          expect(await added.readMetric('engine_clients_connected')).toBeGreaterThan(before);
          for (const c of more) expectContiguous(c);
          // The reload kept every open socket (the old worker serves them until they close).
          await liveAfter(clients, 3, 30_000);
          expect(clients.map((c) => c.reconnects)).toEqual(reconnects);
        } finally {
          for (const c of fresh) c.close();
        }
      }, 300_000);
    },
  });
});
