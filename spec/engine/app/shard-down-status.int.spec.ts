import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import type { EngineClient } from '../../helpers/ws-client.ts';
import { EngineClient as Client } from '../../helpers/ws-client.ts';

/**
 * The whole exchange rides on a few upstream connections (1,024 streams each). When one dropped and
 * could not come back, every chart was told `reconnecting`, those whose series came on the others
 * too. Now only the clients of the down connection's series are, and `live` again once it is back;
 * the rest stay `live`. In ROLE=all and through an edge of a cluster (the leader writes the series'
 * own status to Redis beside its upstream state). One stream per connection here, so BTCUSDT and
 * ETHUSDT ride on two.
 */
const statuses = (c: EngineClient) => c.messages.filter((m) => m.type === 'status').map((m) => (m as { upstream: string }).upstream);
const last = (c: EngineClient) => statuses(c).at(-1);
const common = { symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1s'], bufferSize: 100, seriesDir: '', streamsPerConnection: 1 };
const simOptions = { symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 250 };

async function downThenBack(sim: SimExchange, url: string, open: (path: string) => EngineClient): Promise<void> {
  const ws = url.replace('http', 'ws');
  const btc = open(`${ws}/ws/BTCUSDT?interval=1s`);
  const eth = open(`${ws}/ws/ETHUSDT?interval=1s`);
  await btc.until((c) => last(c) === 'live', 15_000, 'BTCUSDT live');
  await eth.until((c) => last(c) === 'live', 15_000, 'ETHUSDT live');
  const ethSaid = statuses(eth).length;
  expect(sim.subscriptions().length).toBe(2);
  // BTCUSDT's connection drops and the exchange refuses new ones for a while: ETHUSDT's stays up.
  sim.faults.refuseConnections(6000);
  sim.faults.dropConnections('btcusdt@kline_1s');
  await btc.until((c) => last(c) === 'reconnecting', 10_000, 'BTCUSDT told reconnecting');
  // A client arriving meanwhile is told at once.
  const late = open(`${ws}/ws/BTCUSDT?interval=1s`);
  await late.until((c) => statuses(c).length > 0, 10_000, 'a status for the late client');
  expect(statuses(late)[0]).toBe('reconnecting');
  await btc.until((c) => last(c) === 'live', 30_000, 'BTCUSDT live again');
  await late.until((c) => last(c) === 'live', 5000, 'the late client live again');
  expect(statuses(eth).slice(ethSaid)).toEqual([]);
  expect(last(eth)).toBe('live');
}

describe('one upstream connection down in ROLE=all', () => {
  let app: App;
  const clients: EngineClient[] = [];
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions, ...common });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  it("tells that connection's series' clients reconnecting, the others live, and live again once it is back", async () => {
    await downThenBack(app.sim!, app.url, (url) => {
      const c = new Client(url);
      clients.push(c);
      return c;
    });
  }, 90_000);
});

describe('one upstream connection open but silent as a whole in ROLE=all', () => {
  let app: App;
  const clients: EngineClient[] = [];
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions, ...common, staleAfterMs: 3000 });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  it("tells that connection's series' clients stale, through its replacement as silent (reproduced: live), the others live", async () => {
    const ws = app.url.replace('http', 'ws');
    const open = (path: string) => {
      const c = new Client(`${ws}${path}`);
      clients.push(c);
      return c;
    };
    const btc = open('/ws/BTCUSDT?interval=1s');
    const eth = open('/ws/ETHUSDT?interval=1s');
    await btc.until((c) => last(c) === 'live', 15_000, 'BTCUSDT live');
    await eth.until((c) => last(c) === 'live', 15_000, 'ETHUSDT live');
    const ethSaid = statuses(eth).length;
    // The exchange keeps BTCUSDT's socket (and each one replacing it) open and sends nothing on it.
    app.sim!.faults.muteStream('btcusdt@kline_1s');
    await btc.until((c) => last(c) === 'stale', 30_000, 'BTCUSDT told stale');
    const staleAt = statuses(btc).length - 1;
    // Still stale after the engine replaced the silent socket twice (it does after 3 s of silence),
    // never `live` meanwhile (reproduced: live for the first seconds of each replacement).
    const replaced = app.metrics.value('engine_upstream_reconnects_total');
    await btc.until((c) => app.metrics.value('engine_upstream_reconnects_total') >= replaced + 2 && last(c) === 'stale', 45_000, 'stale again after two replacements');
    expect(statuses(btc).slice(staleAt).filter((x) => x === 'live')).toEqual([]);
    app.sim!.faults.muteStream('btcusdt@kline_1s', false);
    await btc.until((c) => last(c) === 'live', 30_000, 'BTCUSDT live again');
    expect(statuses(eth).slice(ethSaid)).toEqual([]);
  }, 120_000);
});

const redisUp = await hasRedis('one upstream connection down, through an edge (Redis)');

describe.runIf(redisUp)('one upstream connection down, through an edge (Redis)', () => {
  let cluster: InProcessCluster;
  beforeAll(async () => {
    cluster = await startInProcessCluster({ name: 'shard-down', common, ingest: { simOptions } });
    await cluster.edgeReady(30_000);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("tells that connection's series' clients reconnecting on the edge too, the others live, and live again once it is back", async () => {
    await downThenBack(cluster.ingest.app.sim!, cluster.edge.url, (url) => cluster.client(url.slice(url.indexOf('/ws/'))));
  }, 90_000);
});
