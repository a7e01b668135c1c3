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
  /** What the replay's store writes under (its `fence`, redis-bar-store.ts): nothing lands once another replay holds the slot. */
  readonly fence: { key: string; token: string; leaseMs: number };
  /** Whether it still holds the slot: false when another replay took it, undefined when Redis does not answer within `ms`. */
  holds(ms: number): Promise<boolean | undefined>;
  /** Stops renewing and frees the slot, or lets go of it after `ms` (never throws: an unreleased one is free SLOT_LEASE_MS later). */
  release(ms?: number): Promise<void>;
  /** Stops renewing and closes its connection without a word to Redis (one that does not answer): free SLOT_LEASE_MS after the last renewal. */
  abandon(): void;
}

/**
 * Takes the first free slot of a recording's replays (`SET NX PX` on its slot key), renewed every third
 * of SLOT_LEASE_MS on a connection of its own: each replay of one recording at once gets a namespace of
 * its own, and a killed replay's slot, with what it left, goes to a later replay, which empties it.
 * @returns undefined when all REPLAY_SLOTS slots are held
 * @throws the Redis error when Redis cannot be reached or refuses, within `timeoutMs`
 */
export async function takeReplaySlot(o: { url: string; recordedAt: number; base?: string; timeoutMs: number; log: Logger; leaseMs?: number }): Promise<ReplaySlot | undefined> {
  const leaseMs = o.leaseMs ?? SLOT_LEASE_MS;
  // Reconnects (the default): its renewals go on across a Redis restart.
  const redis = connection(o.url, o.timeoutMs, true);
  const token = randomBytes(8).toString('hex');
  let slot: number | undefined;
  try {
    await redis.connect();
    for (let s = 0; s < REPLAY_SLOTS && slot === undefined; s++) {
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
      if (got === 0 && state !== 'taken') o.log.error(`replay: another replay took its Redis slot ${slot} of this recording while this one could not renew it; this one writes nothing more there (its store refuses: serving from memory) and leaves the namespace in place when it stops`);
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
    fence: { key, token, leaseMs },
    async holds(ms) {
      return within(redis.get(key).then((v) => v === token, () => undefined), ms, undefined);
    },
    abandon() {
      clearInterval(timer);
      redis.disconnect();
    },
    async release(ms = o.timeoutMs) {
      clearInterval(timer);
      // Unanswered: free SLOT_LEASE_MS after the last renewal all the same.
      const freed = await within(redis.eval(RELEASE_LUA, 1, key, token).then(() => true, () => false), ms, false);
      if (freed) await quitRedis(redis);
      else redis.disconnect();
    },
  };
}

/**
 * Holds the free slots of a recording's replays other than `own` (a killed replay's, with what it left)
 * for as long as the caller empties them, on one connection: `SET NX PX` each.
 * @throws the Redis error when Redis cannot be reached or refuses, within `timeoutMs`
 */
export async function claimFreeSlots(o: { url: string; recordedAt: number; base?: string; timeoutMs: number; own: number }): Promise<{ slots: number[]; release(): Promise<void> }> {
  const redis = connection(o.url, o.timeoutMs, false);
  const token = randomBytes(8).toString('hex');
  const slots: number[] = [];
  try {
    await redis.connect();
    for (let s = 0; s < REPLAY_SLOTS; s++) {
      // Held a minute: the emptying is one pass over the database.
      if (s !== o.own && (await redis.set(replaySlotKey(o.recordedAt, o.base, s), token, 'PX', 60_000, 'NX')) === 'OK') slots.push(s);
    }
  } catch (e) {
    await quitRedis(redis);
    throw e;
  }
  return {
    slots,
    async release() {
      try {
        for (const s of slots) await redis.eval(RELEASE_LUA, 1, replaySlotKey(o.recordedAt, o.base, s), token);
      } catch {
        // Free a minute after they were taken all the same.
      }
      await quitRedis(redis);
    },
  };
}

/** A slot's connection: each command fails within `timeoutMs` rather than queue (its rejection says why). */
function connection(url: string, timeoutMs: number, reconnect: boolean): Redis {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, commandTimeout: timeoutMs, enableOfflineQueue: false, ...(reconnect ? {} : { retryStrategy: () => null }) });
  redis.on('error', () => {});
  return redis;
}

/** `p`'s value, or `otherwise` once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(otherwise), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
