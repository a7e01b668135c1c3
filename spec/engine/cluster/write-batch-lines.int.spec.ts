import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys, seriesKeys } from '../../../engine/src/cluster/cluster-keys.ts';
import { WRITE_BATCH_LUA } from '../../../engine/src/cluster/cluster-scripts.ts';
import { encodeBar } from '../../../engine/src/store/bar-member.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const redisUp = await hasRedis('write script lines (Redis db 15)');

const PREFIX = 'wbl:';
const TOKEN = 'token-1';
const btc = seriesKeys(seriesId('BTCUSDT', '1m'), PREFIX);
const eth = seriesKeys(seriesId('ETHUSDT', '1m'), PREFIX);
const bar = (openTime: number, volume: number): Bar => ({ openTime, open: 10, high: 12, low: 9, close: 11, volume, closed: false });
/** A batch line as the leader writes it (BarWriteQueue.send), with `time` as given. */
const line = (series: string, time: string, b: Bar, more: boolean) => `${series} ${time} 0 1 ${more ? 1 : 0} ${b.volume} ${encodeBar(b)}\n`;

/**
 * The write script's lines read straight against Redis: a time that is not digits is malformed (that
 * update alone fails, status -2), and a time spelled with a leading zero after the held update of the
 * same bar goes the long way (the held writes made first) and still replaces that bar.
 */
describe.runIf(redisUp)('write script lines (Redis db 15)', () => {
  let redis: Redis;
  const run = (body: string) => redis.eval(WRITE_BATCH_LUA, 1, leaseKeys(PREFIX).lease, TOKEN, 'run-1', 'E', 100, 10, PREFIX, body) as Promise<Array<number | string>>;
  const clean = async () => {
    await deletePrefix(redis, PREFIX);
    await redis.set(leaseKeys(PREFIX).lease, TOKEN);
  };
  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (redis) await deletePrefix(redis, PREFIX);
    redis?.disconnect();
  });

  it('a time that is not digits fails that update alone; the others are written', async () => {
    await clean();
    const b = bar(60_000, 1);
    const body = line('BTCUSDT:1m', '60000', b, false) + line('BTCUSDT:1m', '6e4', bar(60_000, 2), false) + line('BTCUSDT:1m', '-60000', bar(60_000, 3), false) + line('ETHUSDT:1m', '60000', b, false);
    const r = await run(body);
    expect(r.filter((_, i) => i % 3 === 0)).toEqual([1, -2, -2, 1]);
    expect(String(r[5])).toContain('malformed update: BTCUSDT:1m 6e4');
    expect(String(r[8])).toContain('malformed update: BTCUSDT:1m -60000');
    expect(await redis.zrange(btc.candles, 0, -1)).toEqual([encodeBar(b)]);
    expect(await redis.zrange(eth.candles, 0, -1)).toEqual([encodeBar(b)]);
    expect(await redis.hget(btc.pos, 'offset')).toBe('1');
  });

  it('the same bar spelled with a leading zero after a held update replaces it, one offset each', async () => {
    await clean();
    await run(line('BTCUSDT:1m', '60000', bar(60_000, 1), false));
    const [v2, v3, v1] = [bar(60_000, 2), bar(60_000, 3), bar(60_000, 1)];
    // v2 is held (a later line of the series follows); v3 names its time otherwise; v1 is older than v3.
    const r = await run(line('BTCUSDT:1m', '60000', v2, true) + line('BTCUSDT:1m', '060000', v3, true) + line('BTCUSDT:1m', '60000', v1, false));
    expect(r.filter((_, i) => i % 3 === 0)).toEqual([1, 1, 0]);
    expect(r.filter((_, i) => i % 3 === 1)).toEqual([2, 3, 3]);
    expect(await redis.zrange(btc.candles, 0, -1, 'WITHSCORES')).toEqual([encodeBar(v3), '60000']);
    expect(await redis.hget(btc.pos, 'offset')).toBe('3');
  });
});
