import { describe } from 'vitest';
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
describe.runIf((await hasRedisServer('compose topology')) && (await hasHaproxy('compose topology')))('docker-compose.yml as child processes, clients through haproxy', () => {
  composeTopologySuite((o) => ComposeTopology.start({ ...o, checkInter: '500ms' }));
});
