import { ConfigError } from '../domain/errors.ts';
import type { Logger } from '../log.ts';
import { deleteKeysUnder } from '../store/delete-keys-under.ts';
import { redisErrorText } from '../store/redis-error-text.ts';
import { REPLAY_SLOTS, replayKeyPrefix } from './replay-key-prefix.ts';
import { type ReplaySlot, takeReplaySlot } from './replay-slot.ts';

/** How long each Redis command of an emptying may take. */
const COMMAND_TIMEOUT_MS = 3000;
/** How long a stopping replay spends deleting its keys, at most (a shutdown has 15 s in all; main.ts). */
export const DROP_WITHIN_MS = 3000;

/** A replay's Redis namespace (replay-key-prefix.ts): its keys' prefix, in a slot it holds while it runs, emptied at the start and deleted at a graceful stop. */
export interface ReplayNamespace {
  readonly prefix: string;
  /**
   * Deletes every key under it, within DROP_WITHIN_MS (plus one command), logging how many went; call
   * once the store is flushed and closed. A replay's keys are of no use once it stops (the next replay
   * of the recording empties them first), and they never expire: left, every replay's stayed in the
   * database for good. Then frees its slot. Never throws: what it could not delete, the next replay
   * of the recording in that slot does.
   */
  drop(): Promise<void>;
}

/**
 * Opens a replay's namespace: takes a slot of its recording's replays (replay-slot.ts; another replay of
 * the same recording running at once holds another), then empties it, so the replay starts from its recording alone (what an
 * earlier replay of the same recording left, say one killed before it could delete its keys, would be
 * restored as the series' history, newer than the frames about to play, and every frame dropped as
 * stale). A namespace that cannot be emptied fails the start: the replay carried on with the leftovers
 * (a warning), and served them. So does one with every slot held.
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
  let deleted: number;
  try {
    deleted = await deleteKeysUnder(url, prefix, COMMAND_TIMEOUT_MS);
  } catch (e) {
    await slot.release();
    throw refused(redisErrorText(e), e);
  }
  await sweepFreeSlots(opts, slot.slot, log);
  log.info(`replay: series kept in Redis under ${prefix}* (the live run's keys are not touched; deleted at a graceful stop)`, deleted ? { deletedFromEarlierReplay: deleted } : {});
  return {
    prefix,
    async drop() {
      const holds = await slot.holds();
      if (holds === undefined) {
        // Not a second wait on a Redis that does not answer (a shutdown is bounded).
        log.warn(`replay: its Redis keys under ${prefix}* were not deleted (Redis does not answer); the next replay of this recording deletes them once slot ${slot.slot} is free`);
        slot.abandon();
        return;
      }
      // Taken by another replay (this one could not renew it): the namespace is that one's now.
      if (!holds) {
        log.warn(`replay: its Redis keys under ${prefix}* are left in place: another replay holds slot ${slot.slot} now`);
        await slot.release();
        return;
      }
      try {
        const gone = await deleteKeysUnder(url, prefix, COMMAND_TIMEOUT_MS, AbortSignal.timeout(DROP_WITHIN_MS));
        log.info(`replay: deleted its ${gone} Redis keys under ${prefix}*`);
      } catch (e) {
        log.warn(`replay: its Redis keys under ${prefix}* were not all deleted (${redisErrorText(e)}); the next replay of this recording in slot ${slot.slot} deletes them first`);
      }
      await slot.release();
    },
  };
}

/**
 * Empties every other slot of the recording no replay holds: what replays killed there left (a later
 * replay takes the lowest free slot, so one killed in slot 3 had its keys kept for good), and what one
 * of the version before slots left. Each slot is held while it is emptied. Never fails the start: what
 * is left, the next replay's sweep takes.
 */
async function sweepFreeSlots(opts: { url: string; recordedAt: number; base?: string }, own: number, log: Logger): Promise<void> {
  let swept = 0;
  for (let s = 0; s < REPLAY_SLOTS; s++) {
    if (s === own) continue;
    try {
      const free = await takeReplaySlot({ url: opts.url, recordedAt: opts.recordedAt, base: opts.base, timeoutMs: COMMAND_TIMEOUT_MS, log, only: s });
      if (!free) continue;
      try {
        swept += await deleteKeysUnder(opts.url, replayKeyPrefix(opts.recordedAt, opts.base, s), COMMAND_TIMEOUT_MS);
      } finally {
        await free.release();
      }
    } catch (e) {
      log.warn(`replay: could not empty free slot ${s} of this recording (${redisErrorText(e)}); a later replay does`);
      return;
    }
  }
  try {
    // The namespace before slots (`replay:<t>:candles:…`, `replay:<t>:store:freed`): what a replay of an
    // earlier version, killed, left; no slot prefix matches it.
    const before = replayKeyPrefix(opts.recordedAt, opts.base).replace(/\d+:$/, '');
    for (const kind of ['candles:', 'store:freed']) swept += await deleteKeysUnder(opts.url, before + kind, COMMAND_TIMEOUT_MS);
  } catch (e) {
    log.warn(`replay: could not empty what an earlier version's replay of this recording left (${redisErrorText(e)}); a later replay does`);
  }
  if (swept) log.info(`replay: deleted ${swept} Redis keys killed replays of this recording left in free slots`);
}
