import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSeriesBatch } from '../../../engine/cli/run-series-batch.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { anchoredFeedStart, anchoredRuns } from '../../../engine/src/series/anchored-runs.ts';
import { loadSeriesModules } from '../../../engine/src/series/load-series.ts';
import { createRedisBarStore } from '../../../engine/src/store/redis-bar-store.ts';
import { runSync } from '../../helpers/marbles.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const PREFIX = `spec-cli-store-${process.pid}:`;
const MIN = 60_000;
const FROM = Date.UTC(2024, 4, 1);
const TO = FROM + 4 * 1440 * MIN - MIN; // inclusive: 4 days of 1m, 6 REST pages

describe.runIf(await hasRedis('batch store-first'))('npm run series reads the store first', () => {
  let sim: SimExchange;
  const dir = mkdtempSync(join(tmpdir(), 'batch-store-'));
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['ETHUSDT'], pushIntervalMs: 60_000 });
    // The store holds two stretches with a hole between them (an outage); REST must fill the rest.
    const truth = sim.truth('ETHUSDT', '1m', FROM, TO);
    const store = createRedisBarStore({ url: REDIS_URL, bufferSize: 10_000, keyPrefix: PREFIX });
    store.upsert(seriesId('ETHUSDT', '1m'), [...truth.slice(500, 1200), ...truth.slice(1500, 4600)]);
    await store.close();
  });
  afterAll(async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the stored bars, fetches only what the store lacks, and writes the same points as the operator over the truth', async () => {
    const out = join(dir, 'rsi.jsonl');
    const before = sim.stats.restRequests;
    const res = await runSeriesBatch({ series: 'rsi', seriesDir: 'series', symbol: 'ETHUSDT', interval: '1m', from: FROM, to: TO, out, format: 'jsonl', restUrl: sim.restUrl, weightBudget: 3000, redisUrl: REDIS_URL, redisKeyPrefix: PREFIX });
    // rsi's warm-up first: from the start of the 300-bar block before FROM's (360 bars before it).
    const feedFrom = anchoredFeedStart(FROM, 300 * MIN);
    expect(res.bars).toBe((FROM - feedFrom) / MIN + 4 * 1440);
    expect(res.storedBars).toBe(700 + 3100);
    // [-360,500), [1200,1500) and [4600,5760) (two pages): 4 requests where REST alone takes 6, after
    // one for the exchange's clock (GET /api/v3/time).
    expect(sim.stats.restRequests - before).toBe(1 + 4);
    const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time: number; value: number });
    const def = (await loadSeriesModules('series')).find((d) => d.name === 'rsi')!;
    // Anchored as the engine runs it.
    const want = runSync(sim.truth('ETHUSDT', '1m', feedFrom, TO), anchoredRuns(() => def.operator(def.params), 300 * MIN, feedFrom)).filter((p) => p.closed && p.time >= FROM);
    expect(got).toHaveLength(res.points);
    expect(got.map((p) => p.time)).toEqual(want.map((p) => p.time));
    expect(got.every((p, i) => i === 0 || p.time > got[i - 1]!.time)).toBe(true);
    got.forEach((p, i) => expect(p.value).toBeCloseTo(want[i]!.value!, 9));
  });
});
