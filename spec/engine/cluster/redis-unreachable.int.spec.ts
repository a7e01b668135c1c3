import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * Nodes started before their Redis (a cluster coming up together, a wrong REDIS_URL): an edge used
 * to exit on its first command, and an ingest node stood by quietly with /health "ok". Both now wait,
 * say so once per outage with the reason, report it in /health, and work once Redis answers.
 * Own redis-server (killed and started), the simulator, nodes as child processes.
 */
const linesWith = (n: NodeProcess, text: string) =>
  n
    .output.join('')
    .split('\n')
    .filter((l) => l.includes(text));

const redisUp = await hasRedisServer('nodes started before Redis (child processes)');

describe.runIf(redisUp)('nodes started before Redis (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  const nodes: NodeProcess[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
    await redis.kill(); // its port, with nothing listening
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 200 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it('wait for Redis, say why once, and work when it answers', async () => {
    const env = { SYMBOLS: 'BTCUSDT', INTERVALS: '1m', SOURCE: 'binance', BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, REDIS_URL: redis.url, SERIES_DIR: '', LEASE_TTL_MS: '1500' };
    const ingest = await NodeProcess.start('ingest', { ...env, ROLE: 'ingest' });
    const edge = await NodeProcess.start('edge', { ...env, ROLE: 'edge' });
    nodes.push(ingest, edge);
    const down = await ingest.until((h) => (h.notReady as string[] | undefined)?.some((r) => r.startsWith('redis unreachable: ')) === true, 60_000, 'ingest reports redis unreachable');
    expect(down.status).toBe('degraded');
    expect(down.leader).toBe(false);
    // Its `store` is its own memory; Redis, the cluster's store, is said apart (it read as a reachable store).
    expect(down).toMatchObject({ store: { kind: 'memory' }, redis: { reachable: false, error: expect.stringMatching(/ECONNREFUSED/) } });
    // Several retries later: each still running, and one line each about it, naming where and why.
    await new Promise((r) => setTimeout(r, 3000));
    expect(edge.exited).toBe(false);
    // The edge's port answers meanwhile: alive, not ready and why; everything else a 503 to retry.
    const get = async (path: string) => {
      const res = await request(`${edge.url}${path}`);
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    expect(await get('/livez')).toEqual({ status: 200, body: { status: 'alive' } });
    for (const path of ['/health', '/readyz']) {
      const h = await get(path);
      expect(h.status).toBe(503);
      expect(h.body).toMatchObject({ status: 'starting', role: 'edge', node: 'edge' });
      expect((h.body.notReady as string[])[0]).toMatch(/^redis unreachable: connect ECONNREFUSED/);
    }
    expect(await get('/candles/BTCUSDT/1m')).toMatchObject({ status: 503, body: { error: 'starting' } });
    const upgrade = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${edge.ws}/ws/BTCUSDT?interval=1m`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('opened while starting')));
      ws.on('error', () => {});
    });
    expect(upgrade).toBe(503);
    for (const n of [ingest, edge]) {
      const said = linesWith(n, 'redis unreachable at');
      expect(said, n.output.join('')).toHaveLength(1);
      expect(said[0]).toContain(`127.0.0.1:${redis.port}/0 (connect ECONNREFUSED`);
    }

    await redis.restart();
    const up = await ingest.until((h) => h.leader === true && h.status === 'ok', 60_000, 'ingest leads once redis answers');
    expect(up.redis).toEqual({ reachable: true, error: null, writesKept: 0 });
    await edge.until((h) => h.status === 'ok', 60_000, 'edge serves once redis answers');
    // The same port now serves: a client gets its history.
    const first = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${edge.ws}/ws/BTCUSDT?interval=1m`);
      ws.once('message', (d) => {
        ws.close();
        resolve(String(d));
      });
      ws.on('error', reject);
    });
    expect(JSON.parse(first)).toMatchObject({ type: 'historical', symbol: 'BTCUSDT' });
    for (const n of [ingest, edge]) expect(linesWith(n, 'redis reachable at')).toHaveLength(1);
  }, 150_000);
});
