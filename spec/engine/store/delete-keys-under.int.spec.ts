import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysUnder } from '../../../engine/src/store/delete-keys-under.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const P = `spec-delete-under-${process.pid}:`;

describe.runIf(await hasRedis('deleteKeysUnder'))('deleteKeysUnder (a replay empties its own namespace)', () => {
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    await deletePrefix(redis, P);
    redis.disconnect();
  });

  it('deletes every key under the prefix and none beside it, glob characters matched as themselves', async () => {
    const ns = `${P}replay:[1]*?:`;
    const inside = Array.from({ length: 2500 }, (_, i) => `${ns}candles:S${i}:1m`);
    // Keys the pattern would take if `[1]*?` were a glob.
    const beside = [`${P}replay:1xy:candles:A:1m`, `${P}replay:[1]*?candles`, `${P}candles:BTCUSDT:1m`];
    for (const k of [...inside, ...beside]) await redis.set(k, '1');
    expect(await deleteKeysUnder(REDIS_URL, ns, 3000)).toBe(inside.length);
    expect(await redis.exists(...inside.slice(0, 100))).toBe(0);
    expect(await redis.exists(...beside)).toBe(beside.length);
    expect(await deleteKeysUnder(REDIS_URL, ns, 3000)).toBe(0);
  });

  it('stops between SCAN steps once its signal is aborted (a bounded shutdown), keeping what it did not reach', async () => {
    const ns = `${P}aborted:`;
    await redis.set(`${ns}k`, '1');
    await expect(deleteKeysUnder(REDIS_URL, ns, 3000, AbortSignal.abort(new Error('out of time')))).rejects.toThrow('out of time');
    expect(await redis.exists(`${ns}k`)).toBe(1);
  });

  it('refuses an empty prefix (the whole database), and says so when Redis cannot be reached', async () => {
    await expect(deleteKeysUnder(REDIS_URL, '', 3000)).rejects.toThrow(TypeError);
    await expect(deleteKeysUnder('redis://127.0.0.1:9/15', P, 500)).rejects.toThrow();
  });
});
