import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { quitRedis } from '../store/quit-redis.ts';
import { redisErrorText } from '../store/redis-error-text.ts';
import { REPLAY_SLOTS, replaySlotKey } from './replay-key-prefix.ts';

/** How long a slot stays held without a renewal: a killed replay's slot is free again this long after. */
export const SLOT_LEASE_MS = 15_000;

/** Renews our hold; takes the slot again when Redis lost it (a restart without its data). 1 held, 2 taken again, 0 held by another. */
const RENEW_LUA = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;
/** Frees our hold: expired now (a TTL of 0 deletes it) rather than DEL (a Redis user refused DEL kept the slot held 15 s). */
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], 0) end return 0`;

/** A slot among the replays of one recording on one database (replay-key-prefix.ts), held until released. */
export interface ReplaySlot {
  readonly slot: number;
  /** Whether it still holds the slot: false when another replay took it, undefined when Redis does not answer. */
  holds(): Promise<boolean | undefined>;
  /** Stops renewing and frees the slot (never throws: an unreleased one is free SLOT_LEASE_MS later). */
  release(): Promise<void>;
  /** Stops renewing and closes its connection without a word to Redis (one that does not answer): free SLOT_LEASE_MS after the last renewal. */
  abandon(): void;
}

/**
 * Takes the first free slot of a recording's replays (`SET NX PX` on its slot key), renewed every third
 * of SLOT_LEASE_MS on a connection of its own: each replay of one recording at once gets a namespace of
 * its own, and a killed replay's slot, with what it left, goes to a later replay, which empties it.
 * @param o.only that slot alone (to empty what a killed replay left in it)
 * @returns undefined when all REPLAY_SLOTS slots are held (or `only` is)
 * @throws the Redis error when Redis cannot be reached or refuses, within `timeoutMs`
 */
export async function takeReplaySlot(o: { url: string; recordedAt: number; base?: string; timeoutMs: number; log: Logger; leaseMs?: number; only?: number }): Promise<ReplaySlot | undefined> {
  const leaseMs = o.leaseMs ?? SLOT_LEASE_MS;
  const redis = new Redis(o.url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: o.timeoutMs, commandTimeout: o.timeoutMs, enableOfflineQueue: false });
  redis.on('error', () => {}); // a failed renewal says it
  const token = randomBytes(8).toString('hex');
  let slot: number | undefined;
  try {
    await redis.connect();
    for (let s = o.only ?? 0; s < (o.only === undefined ? REPLAY_SLOTS : o.only + 1) && slot === undefined; s++) {
      if ((await redis.set(replaySlotKey(o.recordedAt, o.base, s), token, 'PX', leaseMs, 'NX')) === 'OK') slot = s;
    }
  } catch (e) {
    await quitRedis(redis);
    throw e;
  }
  if (slot === undefined) {
    await quitRedis(redis);
    return undefined;
  }
  const key = replaySlotKey(o.recordedAt, o.base, slot);
  // Said once per change (held → lost → held), not every renewal.
  let state: 'held' | 'failing' | 'taken' = 'held';
  const renew = async () => {
    try {
      const got = (await redis.eval(RENEW_LUA, 1, key, token, String(leaseMs))) as number;
      if (got === 0 && state !== 'taken') o.log.error(`replay: another replay took its Redis slot ${slot} of this recording while this one could not renew it; both now write under the same namespace, which this one leaves in place when it stops`);
      else if (got === 2) o.log.warn(`replay: took its Redis slot ${slot} again (Redis had lost it: restarted without its data?)`);
      else if (got === 1 && state !== 'held') o.log.info(`replay: holds its Redis slot ${slot} again`);
      state = got === 0 ? 'taken' : 'held';
    } catch (e) {
      if (state === 'held') o.log.warn(`replay: could not renew its Redis slot ${slot} (${redisErrorText(e)}); another replay of this recording may take it ${leaseMs} ms after the last renewal`);
      state = 'failing';
    }
  };
  const timer = setInterval(() => void renew(), Math.floor(leaseMs / 3));
  timer.unref();
  return {
    slot,
    async holds() {
      try {
        return (await redis.get(key)) === token;
      } catch {
        return undefined;
      }
    },
    abandon() {
      clearInterval(timer);
      redis.disconnect();
    },
    async release() {
      clearInterval(timer);
      try {
        await redis.eval(RELEASE_LUA, 1, key, token);
      } catch {
        // Free SLOT_LEASE_MS after the last renewal all the same.
      }
      await quitRedis(redis);
    },
  };
}
