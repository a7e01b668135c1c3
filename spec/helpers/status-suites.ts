import { afterAll, beforeAll, describe, it } from 'vitest';
import type { App } from '../../engine/src/app.ts';
import type { Config } from '../../engine/src/config/config.ts';
import type { SimExchange, SimOptions } from '../../engine/sim/sim-exchange.ts';
import { type InProcessCluster, startInProcessCluster } from './in-process-cluster.ts';
import { hasRedis } from './services.ts';
import { startTestApp } from './test-app.ts';
import { EngineClient } from './ws-client.ts';

/** The `upstream` of every `status` message a client got, in order. */
export const statuses = (c: EngineClient): string[] => c.messages.filter((m) => m.type === 'status').map((m) => (m as { upstream: string }).upstream);
export const lastStatus = (c: EngineClient): string | undefined => statuses(c).at(-1);

/** What a status scenario works with: the simulator, clients of the node under test, its metrics. */
export interface StatusScene {
  sim: SimExchange;
  /** A client of `path` (`/ws/…`), closed after the suite. */
  open(path: string): EngineClient;
  /** A metric of the node reading the exchange (ROLE=all, or the leader). */
  metric(name: string): number;
}

export interface StatusSuitesOptions {
  /** Names the describe blocks, `… in ROLE=all` and `… through an edge (Redis)`. */
  title: string;
  /** The test's own name. */
  it: string;
  common: Partial<Config>;
  simOptions: SimOptions;
  /** Run through an edge of an in-process cluster too (default true). */
  edge?: boolean;
  timeoutMs?: number;
}

/**
 * One per-series status scenario in ROLE=all and through an edge of a cluster (the leader writes the
 * series' own status to Redis beside its upstream state; edges tell their clients).
 */
export async function statusSuites(o: StatusSuitesOptions, scenario: (scene: StatusScene) => Promise<void>): Promise<void> {
  describe(`${o.title} in ROLE=all`, () => {
    let app: App;
    const clients: EngineClient[] = [];
    beforeAll(async () => {
      app = await startTestApp({ source: 'sim', simOptions: o.simOptions, ...o.common });
      await app.ready;
    }, 30_000);
    afterAll(async () => {
      for (const c of clients) c.close();
      await app?.stop();
    });
    it(o.it, async () => {
      const ws = app.url.replace('http', 'ws');
      await scenario({
        sim: app.sim!,
        open: (path) => {
          const c = new EngineClient(`${ws}${path}`);
          clients.push(c);
          return c;
        },
        metric: (name) => app.metrics.value(name),
      });
    }, o.timeoutMs ?? 90_000);
  });
  if (o.edge === false) return;
  const title = `${o.title} through an edge (Redis)`;
  describe.runIf(await hasRedis(title))(title, () => {
    let cluster: InProcessCluster;
    beforeAll(async () => {
      cluster = await startInProcessCluster({ name: o.title.replace(/\W+/g, '-').slice(0, 30), common: o.common, ingest: { simOptions: o.simOptions } });
      await cluster.edgeReady(30_000);
    }, 60_000);
    afterAll(async () => {
      await cluster?.stop();
    });
    it(`${o.it}, on the edge too`, async () => {
      await scenario({ sim: cluster.ingest.app.sim!, open: (path) => cluster.client(path), metric: (name) => cluster.ingest.app.metrics.value(name) });
    }, o.timeoutMs ?? 90_000);
  });
}
