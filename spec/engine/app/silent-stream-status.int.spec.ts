import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import type { EngineClient } from '../../helpers/ws-client.ts';
import { EngineClient as Client } from '../../helpers/ws-client.ts';

/**
 * A stream the exchange acknowledged and then sends nothing on, while its connection delivers the
 * others: its chart froze and every client read `live` (an attacker-style probe: 242 s). Now the
 * clients of that series alone are told `stale` (on its topic, and in the status a new client gets),
 * and `live` again once it is heard; the other series' clients stay `live`. In ROLE=all and through
 * an edge of a cluster (the leader writes the silent series to Redis beside its upstream state).
 */
const statuses = (c: EngineClient) => c.messages.filter((m) => m.type === 'status').map((m) => (m as { upstream: string }).upstream);
const last = (c: EngineClient) => statuses(c).at(-1);

async function silentThenHeard(sim: SimExchange, url: string, open: (path: string) => EngineClient): Promise<void> {
  const ws = url.replace('http', 'ws');
  const btc = open(`${ws}/ws/BTCUSDT?interval=1s`);
  const eth = open(`${ws}/ws/ETHUSDT?interval=1s`);
  await btc.until((c) => last(c) === 'live', 15_000, 'BTCUSDT live');
  await eth.until((c) => last(c) === 'live', 15_000, 'ETHUSDT live');
  sim.faults.muteStream('btcusdt@kline_1s');
  // A 1s stream is silent past its interval plus 10 s: its series' clients are told.
  await btc.until((c) => last(c) === 'stale', 25_000, 'BTCUSDT told stale');
  expect(statuses(eth).slice(1)).not.toContain('stale');
  expect(last(eth)).toBe('live');
  // A client arriving meanwhile is told at once.
  const late = open(`${ws}/ws/BTCUSDT?interval=1s`);
  await late.until((c) => statuses(c).length > 0, 10_000, 'a status for the late client');
  expect(statuses(late)[0]).toBe('stale');
  sim.faults.muteStream('btcusdt@kline_1s', false);
  await btc.until((c) => last(c) === 'live', 25_000, 'BTCUSDT live again');
  await late.until((c) => last(c) === 'live', 5000, 'the late client live again');
}

describe('a silent stream in ROLE=all', () => {
  let app: App;
  const clients: EngineClient[] = [];
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions: { symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 250 }, symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1s'], bufferSize: 100, seriesDir: '' });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  it("tells that series' clients stale, the others live, and live again once it is heard", async () => {
    await silentThenHeard(app.sim!, app.url, (url) => {
      const c = new Client(url);
      clients.push(c);
      return c;
    });
  }, 90_000);
});

const redisUp = await hasRedis('a silent stream through an edge (Redis)');

describe.runIf(redisUp)('a silent stream through an edge (Redis)', () => {
  let cluster: InProcessCluster;
  beforeAll(async () => {
    const common = { symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1s'], bufferSize: 100, seriesDir: '' };
    cluster = await startInProcessCluster({ name: 'silent-stream', common, ingest: { simOptions: { symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 250 } } });
    await cluster.edgeReady(30_000);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("tells that series' clients stale on the edge too, the others live, and live again once it is heard", async () => {
    await silentThenHeard(cluster.ingest.app.sim!, cluster.edge.url, (url) => cluster.client(url.slice(url.indexOf('/ws/'))));
  }, 90_000);
});
