import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { EngineClient } from '../../helpers/ws-client.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * Found by probing a cluster as an attacker would: cold symbols asked on edges, many at once. The
 * leader answered `live` before the series' window was in Redis (the lifecycle's `live` seeded it,
 * and the hold's own seed found it seeded and answered at once), so an edge read an empty log: its
 * clients got an empty `historical`, then a second one when the window came (35 to 225 of 450
 * clients), and `GET /candles` answered 200 with no candles (49 of 120). One ingest node, two edges,
 * the simulator's universe and a redis-server of the test's own, as child processes.
 */
const redisUp = await hasRedisServer('the first snapshot of a cold symbol on an edge (child processes)');

describe.runIf(redisUp)('the first snapshot of a cold symbol on an edge (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  const nodes: NodeProcess[] = [];
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start({ aof: false });
    sim = await startSimExchange({ pushIntervalMs: 250 });
    const env = {
      REDIS_URL: redis.url,
      SYMBOLS: 'BTCUSDT',
      INTERVALS: '1m',
      SOURCE: 'binance',
      BINANCE_REST_URL: sim.restUrl,
      BINANCE_WS_URL: sim.wsUrl,
      SERIES_DIR: '',
      LOG_LEVEL: 'warn',
      // Every client of the test comes from loopback: no per-address caps in the way.
      MAX_CONNECTIONS_PER_ADDRESS: '0',
      ON_DEMAND_PER_MIN: '100000',
    };
    const ingest = await NodeProcess.start('ingest', { ...env, ROLE: 'ingest' });
    nodes.push(ingest);
    await ingest.until((h) => h.status === 'ok' && h.leader === true, 60_000, 'ingest leads');
    for (const name of ['edge-1', 'edge-2']) nodes.push(await NodeProcess.start(name, { ...env, ROLE: 'edge' }));
    for (const edge of nodes.slice(1)) await edge.until((h) => h.status === 'ok' && Number(h.markets) > 1000, 60_000, 'edge ready with markets');
  }, 150_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it('every client of 90 cold symbols asked at once on two edges gets one whole `historical`, then live candles', async () => {
    const edges = nodes.slice(1);
    const symbols = sim.symbols.filter((s) => s !== 'BTCUSDT').slice(0, 90);
    // Three clients per symbol, all at once: two on one edge, one on the other.
    symbols.forEach((s, k) => {
      for (const e of [k % 2, k % 2, 1 - (k % 2)]) clients.push(new EngineClient(`${edges[e]!.ws}/ws/${s}?interval=1m`));
    });
    await Promise.all(clients.map((c) => c.until((x) => x.live().length > 0, 90_000, 'a live candle')));
    const seen = clients.map((c) => {
      const snaps = c.messages.filter((m) => m.type === 'historical');
      const first = snaps[0] as Extract<(typeof snaps)[number], { type: 'historical' }> | undefined;
      return { snapshots: snaps.length, bars: (first?.data.length ?? 0) > 0, epoch: first?.epoch !== undefined && first.epoch !== 'unwritten' };
    });
    const bad = seen.filter((x) => x.snapshots !== 1 || !x.bars || !x.epoch);
    expect({ clients: seen.length, bad: bad.length, example: bad[0] }).toEqual({ clients: 270, bad: 0, example: undefined });
  }, 150_000);

  it('`GET /candles` of a cold symbol on an edge answers its candles, not an empty list', async () => {
    const edges = nodes.slice(1);
    const symbols = sim.symbols.filter((s) => s !== 'BTCUSDT').slice(90, 150);
    const answers = await Promise.all(
      symbols.map(async (s, k) => {
        const res = await request(`${edges[k % 2]!.url}/candles/${s}/1m?limit=100`);
        const body = (await res.body.json()) as { candles?: unknown[] };
        return `${res.statusCode} ${(body.candles?.length ?? 0) > 0 ? 'candles' : 'empty'}`;
      }),
    );
    const counts: Record<string, number> = {};
    for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
    expect(counts).toEqual({ '200 candles': 60 });
  }, 150_000);
});
