import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const prefix = `test:restart:${process.pid}:`;
const options = {
  source: 'sim' as const,
  port: 0,
  host: '127.0.0.1',
  symbols: ['BTCUSDT', 'SOLUSDT'],
  intervals: ['1m', '1h'],
  bufferSize: 1500,
  clientDir: '',
  redisUrl: REDIS_URL,
  redisKeyPrefix: prefix,
  log: silentLogger,
  simOptions: { pushIntervalMs: 200, seed: 7 },
};

describe.runIf(await hasRedis('engine restart with Redis'))('engine restart with a Redis store', () => {
  const redis = new Redis(REDIS_URL);
  let app: App | undefined;
  afterAll(async () => {
    await app?.stop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('keeps history across a restart and fetches only the missing tail', async () => {
    app = await startApp(options);
    await app.ready;
    const klinesCalls = () => app!.sim!.klinesRequests('BTCUSDT') + app!.sim!.klinesRequests('SOLUSDT');
    const firstRun = klinesCalls();
    // 1500 bars per series need two pages each the first time.
    expect(firstRun).toBeGreaterThanOrEqual(8);
    await app.stop();
    const stored = await redis.zcard(`${prefix}candles:BTCUSDT:1m`);
    expect(stored).toBe(1500);

    app = await startApp(options);
    await app.ready;
    // One page per series: only what is missing since the last stored candle.
    expect(klinesCalls()).toBe(4);
    const bars = app.store.window(seriesId('BTCUSDT', '1m')).last(10_000);
    expect(bars.length).toBeGreaterThanOrEqual(1500);
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime - bars[i - 1]!.openTime).toBe(60_000);
    expect(await redis.zcard(`${prefix}candles:SOLUSDT:1h`)).toBe(1500);
  });
});
