import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { NodeProcess } from '../../helpers/cluster-nodes.ts';
import { RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';

/**
 * Found by trying a Redis with a `maxmemory` too small for the cluster: every write the leader kept
 * after a failure was retried every 250 ms, all at once, for as long as Redis refused them (450,000
 * refusals in 35 s, the leader and Redis at 40 % and 29 % of a core), with /health "ok" and not a line
 * in the log. Now the retries back off (up to 5 s apart), the failure is said once and in /health and
 * /metrics, and what was kept reaches Redis once it takes writes again. Here Redis refuses the bar
 * writes by ACL (the node's user may not ZADD, as a memory limit refuses them, but at a point the test
 * sets: the lease works, every window's write fails), then allows them. A redis-server of the test's
 * own, the simulator, an ingest node as a child process.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'SOLUSDT', 'XRPUSDT', 'ADAUSDT', 'DOGEUSDT', 'TRXUSDT', 'DOTUSDT', 'LINKUSDT'];
const INTERVALS = ['1m', '5m'];
const BUFFER = 1000;

const redisUp = await hasRedisServer('the leader while Redis refuses its writes (child processes)');

describe.runIf(redisUp)('the leader while Redis refuses its writes (child processes)', () => {
  let redis: RedisProcess;
  let sim: SimExchange;
  let ingest: NodeProcess;
  let check: Redis;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    check = new Redis(redis.url);
    await check.acl('SETUSER', 'ingest', 'on', '>not-a-secret', '~*', '&*', '+@all', '-zadd');
    sim = await startSimExchange({ symbols: SYMBOLS, pushIntervalMs: 500 });
    ingest = await NodeProcess.start('ingest', {
      REDIS_URL: `redis://ingest:not-a-secret@127.0.0.1:${redis.port}`,
      ROLE: 'ingest',
      SYMBOLS: SYMBOLS.join(','),
      INTERVALS: INTERVALS.join(','),
      SOURCE: 'binance',
      BINANCE_REST_URL: sim.restUrl,
      BINANCE_WS_URL: sim.wsUrl,
      SERIES_DIR: '',
      BUFFER_SIZE: String(BUFFER),
      LOG_LEVEL: 'info',
    });
  }, 60_000);

  afterAll(async () => {
    check?.disconnect();
    await ingest?.stop();
    await sim?.close();
    await redis?.stop();
  }, 60_000);

  it('backs off, says so once, and writes what it kept once Redis takes writes again', async () => {
    const failing = (h: Record<string, unknown>) => (h.notReady as string[]).some((r) => r.startsWith('writes to redis fail: ') && r.includes("can't run this command"));
    const down = await ingest.until((h) => h.leader === true && failing(h), 60_000, 'the leader reports failing writes');
    expect(down.status).toBe('degraded');
    // Past the first, quicker rounds: how many refusals the kept writes cost from then on.
    await sleep(10_000);
    const failed = async () => ((await ingest.readHealth()).writes as { failed: number }).failed;
    const before = await failed();
    await sleep(10_000);
    const during = (await failed()) - before;
    // At most 20 series × 1,000 kept, retried about every 5 s, plus the live updates (the old code:
    // every 250 ms, ~800,000).
    expect(during).toBeGreaterThan(0);
    expect(during).toBeLessThan(80_000);
    expect(await ingest.readMetric('engine_cluster_writes_kept')).toBeGreaterThan(0);

    await check.acl('SETUSER', 'ingest', '+zadd');
    await ingest.until((h) => h.status === 'ok', 30_000, 'writes reach redis again');
    const lines = ingest.output.join('').split('\n');
    expect(lines.filter((l) => l.includes('writes to redis fail ('))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('writes reach redis again'))).toHaveLength(1);
    expect(await ingest.readMetric('engine_cluster_writes_kept')).toBe(0);
    // Nothing lost: every series' whole window is in Redis.
    for (const s of SYMBOLS) for (const i of INTERVALS) expect(await check.zcard(seriesKeys(seriesId(s, i)).candles), `${s} ${i}`).toBe(BUFFER);
  }, 120_000);
});
