import { ConfigError } from '../domain/errors.ts';
import type { Logger } from '../log.ts';
import { deleteKeysUnder } from '../store/delete-keys-under.ts';
import { redisErrorText } from '../store/redis-error-text.ts';
import { REPLAY_SLOTS, replayKeyPrefix } from './replay-key-prefix.ts';
import { claimFreeSlots, type ReplaySlot, takeReplaySlot } from './replay-slot.ts';

/** How long each Redis command of an emptying may take. */
const COMMAND_TIMEOUT_MS = 3000;
/** How long a stopping replay spends deleting its keys, at most (a shutdown has 15 s in all; main.ts). */
export const DROP_WITHIN_MS = 3000;

/** A replay's Redis namespace (replay-key-prefix.ts): its keys' prefix, in a slot it holds while it runs, emptied at the start and deleted at a graceful stop. */
export interface ReplayNamespace {
  readonly prefix: string;
  /** The store's fence (redis-bar-store.ts): its writes land only while this replay holds its slot. */
  readonly fence: ReplaySlot['fence'];
  /**
   * Deletes every key under it, within DROP_WITHIN_MS (plus one command and a connection's quit),
   * logging how many went, then frees its slot; call once the store is flushed and closed. A replay's
   * keys are of no use once it stops (the next replay of the recording empties them first), and they
   * never expire: left, every replay's stayed in the database for good. Left in place when another
   * replay holds the slot now (the namespace is that one's). Never throws: what it could not delete,
   * the next replay of the recording does.
   */
  drop(): Promise<void>;
}

/**
 * Opens a replay's namespace: takes a slot of its recording's replays (replay-slot.ts; another replay of
 * the same recording running at once holds another), then empties it, so the replay starts from its
 * recording alone (what an earlier replay of the same recording left, say one killed before it could
 * delete its keys, would be restored as the series' history, newer than the frames about to play, and
 * every frame dropped as stale). In the same pass it empties every free slot (what replays killed there
 * left: a later replay takes the lowest free slot, so one killed in slot 3 kept its keys for good) and
 * what a killed replay of the version before slots left (`replay:<t>:candles:…`). A namespace that
 * cannot be emptied fails the start: the replay carried on with the leftovers (a warning), and served
 * them. So does one with every slot held.
 * @param reachable whether Redis answered at the start (not: no second connect timeout here)
 * @throws ConfigError naming REDIS_URL when Redis cannot be reached, refuses to delete the keys, or
 *   REPLAY_SLOTS replays of this recording already run on it
 */
export async function openReplayNamespace(opts: { url: string; reachable: boolean; recordedAt: number; base?: string; log: Logger }): Promise<ReplayNamespace> {
  const { url, log } = opts;
  const info = { variable: 'REDIS_URL', value: '(hidden)', accepted: 'a Redis that answers and lets the replay delete its own keys' };
  const refused = (why: string, cause?: unknown) =>
    new ConfigError(`REDIS_URL: a replay empties its Redis namespace (${replayKeyPrefix(opts.recordedAt, opts.base).replace(/\d+:$/, '<slot>:')}*) before it starts, and it could not (${why}); what an earlier replay of this recording left there would be served as its history. Start Redis (or fix its rights), or unset REDIS_URL to replay in memory`, { cause, info });
  let held: ReplaySlot | undefined;
  try {
    if (!opts.reachable) throw new Error('it did not answer at the start');
    held = await takeReplaySlot({ url, recordedAt: opts.recordedAt, base: opts.base, timeoutMs: COMMAND_TIMEOUT_MS, log });
  } catch (e) {
    throw refused(redisErrorText(e), e);
  }
  if (!held) throw new ConfigError(`REDIS_URL: ${REPLAY_SLOTS} replays of this recording already run on this database, each in a namespace of its own; stop one, or give this one another database (REDIS_URL's /db)`, { info });
  const slot = held;
  const prefix = replayKeyPrefix(opts.recordedAt, opts.base, slot.slot);
  let emptied: { own: number; others: number };
  try {
    emptied = await emptySlots(opts, slot.slot);
  } catch (e) {
    await slot.release();
    throw refused(redisErrorText(e), e);
  }
  if (emptied.others) log.info(`replay: deleted ${emptied.others} Redis keys killed replays of this recording left in free slots`);
  log.info(`replay: series kept in Redis under ${prefix}* (the live run's keys are not touched; deleted at a graceful stop)`, emptied.own ? { deletedFromEarlierReplay: emptied.own } : {});
  return {
    prefix,
    fence: slot.fence,
    async drop() {
      // One deadline for the whole of it: a shutdown is bounded.
      const until = Date.now() + DROP_WITHIN_MS;
      const left = () => Math.max(0, until - Date.now());
      const holds = await slot.holds(left());
      if (holds === undefined) {
        log.warn(`replay: its Redis keys under ${prefix}* were not deleted (Redis does not answer); the next replay of this recording deletes them once slot ${slot.slot} is free`);
        slot.abandon();
        return;
      }
      // Taken by another replay (this one could not renew it): the namespace is that one's now.
      if (!holds) {
        log.warn(`replay: its Redis keys under ${prefix}* are left in place: another replay holds slot ${slot.slot} now`);
        slot.abandon();
        return;
      }
      try {
        const gone = await deleteKeysUnder(url, prefix, COMMAND_TIMEOUT_MS, AbortSignal.timeout(left()));
        log.info(`replay: deleted its ${gone} Redis keys under ${prefix}*`);
      } catch (e) {
        log.warn(`replay: its Redis keys under ${prefix}* were not all deleted (${redisErrorText(e)}); the next replay of this recording deletes them once slot ${slot.slot} is free`);
        slot.abandon();
        return;
      }
      await slot.release(Math.max(left(), 500));
    },
  };
}

/**
 * Empties the slot `own` holds, every free slot (each held while it is) and the namespace of the version
 * before slots, in one pass over the database (a SCAN visits every key, whatever it matches: a pass per
 * slot made a start on a database of 2 M keys take 13 s instead of 1.6).
 * @returns how many keys went: the slot's own, and the others
 * @throws the Redis error when Redis cannot be reached or refuses
 */
async function emptySlots(opts: { url: string; recordedAt: number; base?: string }, own: number): Promise<{ own: number; others: number }> {
  const claimed = await claimFreeSlots({ url: opts.url, recordedAt: opts.recordedAt, base: opts.base, timeoutMs: COMMAND_TIMEOUT_MS, own });
  try {
    // `replay:<t>:` then a slot, or (before slots) `candles:…` and `store:freed`.
    const under = replayKeyPrefix(opts.recordedAt, opts.base).replace(/\d+:$/, '');
    const ownPrefix = `${own}:`;
    const emptied = new Set(claimed.slots.map((s) => `${s}:`));
    const counts = { own: 0, others: 0 };
    await deleteKeysUnder(opts.url, under, COMMAND_TIMEOUT_MS, undefined, (key) => {
      const rest = key.slice(under.length);
      const slotPart = rest.slice(0, rest.indexOf(':') + 1);
      if (slotPart === ownPrefix) counts.own++;
      else if (emptied.has(slotPart) || rest.startsWith('candles:') || rest === 'store:freed') counts.others++;
      // Another replay's slot, held: its own.
      else return false;
      return true;
    });
    return counts;
  } finally {
    await claimed.release();
  }
}
