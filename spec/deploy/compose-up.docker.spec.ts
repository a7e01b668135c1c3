import { describe } from 'vitest';
import { DockerTopology } from '../helpers/compose-docker.ts';
import { composeTopologySuite } from '../helpers/compose-suite.ts';
import { dockerCompose } from '../helpers/services.ts';

/**
 * `docker compose up` of docker-compose.yml as it is (images built by the Dockerfile; official base
 * images, or deploy/offline-images.sh's stand-ins where Docker Hub is out of reach), then the checks
 * compose-topology.int.spec.ts makes on the same topology as child processes: clients through
 * HAProxy, an edge killed, then the leader, with no hole, no duplicate and the same epoch.
 */
const compose = await dockerCompose('docker compose up');

describe.runIf(compose)('docker compose up, clients through haproxy', () => {
  composeTopologySuite((o) => DockerTopology.start(compose!, o), { startTimeoutMs: 900_000 });
});
