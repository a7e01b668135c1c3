import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../engine/src/log.ts';
import { replaySlotKey } from '../../../engine/src/record/replay-key-prefix.ts';
import { takeReplaySlot } from '../../../engine/src/record/replay-slot.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';

const P = `spec-replay-slot-${process.pid}:`;
const T = 1_700_000_000_000;

describe.runIf(await hasRedis("a replay's slot among its recording's replays"))('takeReplaySlot', () => {
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    await deletePrefix(redis, P);
    redis.disconnect();
  });

  it('holds its slot by renewing it, says once when another replay took it, takes it again when Redis lost it, and frees it on release', async () => {
    const lines: string[] = [];
    const log = createLogger('info', 'replay', (l) => void lines.push(l));
    const key = replaySlotKey(T, P, 0);
    const slot = (await takeReplaySlot({ url: REDIS_URL, recordedAt: T, base: P, timeoutMs: 1000, log, leaseMs: 1500 }))!;
    try {
      expect(slot.slot).toBe(0);
      const token = await redis.get(key);
      expect(token).toMatch(/^[0-9a-f]{16}$/);
      // Renewed past its lease, several times over.
      await new Promise((r) => setTimeout(r, 3500));
      expect(await redis.get(key)).toBe(token);
      // Another replay took it (this one could not renew in time): said once, however many renewals follow.
      await redis.set(key, 'other', 'PX', 60_000);
      await until(() => lines.some((l) => l.includes('another replay took its Redis slot 0')), 5000, 'the error');
      await new Promise((r) => setTimeout(r, 1200));
      expect(lines.filter((l) => l.includes('another replay took its Redis slot 0'))).toHaveLength(1);
      expect(await redis.get(key)).toBe('other');
      // Redis lost it (restarted without its data): taken again with its own token.
      await redis.del(key);
      await until(async () => (await redis.get(key)) === token, 5000, 'the slot taken again');
      expect(lines.some((l) => l.includes('took its Redis slot 0 again'))).toBe(true);
    } finally {
      await slot.release();
    }
    expect(await redis.exists(key)).toBe(0);
  });

  it('takes the first free slot, and frees only its own hold', async () => {
    const log = createLogger('error', 'replay', () => {});
    await redis.set(replaySlotKey(T + 1, P, 0), 'held', 'PX', 60_000);
    const slot = (await takeReplaySlot({ url: REDIS_URL, recordedAt: T + 1, base: P, timeoutMs: 1000, log }))!;
    expect(slot.slot).toBe(1);
    // Its hold taken over by another meanwhile: release leaves the other's alone.
    await redis.set(replaySlotKey(T + 1, P, 1), 'other', 'PX', 60_000);
    await slot.release();
    expect(await redis.get(replaySlotKey(T + 1, P, 1))).toBe('other');
    expect(await redis.get(replaySlotKey(T + 1, P, 0))).toBe('held');
  });
});
