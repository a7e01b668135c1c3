import { ConfigError } from '../domain/errors.ts';
import type { Logger } from '../log.ts';
import { deleteKeysUnder } from '../store/delete-keys-under.ts';
import { redisErrorText } from '../store/redis-error-text.ts';
import { replayKeyPrefix } from './replay-key-prefix.ts';

/** How long each Redis command of an emptying may take. */
const COMMAND_TIMEOUT_MS = 3000;
/** How long a stopping replay spends deleting its keys, at most (a shutdown has 15 s in all; main.ts). */
export const DROP_WITHIN_MS = 3000;

/** A replay's Redis namespace (replay-key-prefix.ts): its keys' prefix, emptied at the start and deleted at a graceful stop. */
export interface ReplayNamespace {
  readonly prefix: string;
  /**
   * Deletes every key under it, within DROP_WITHIN_MS (plus one command), logging how many went; call
   * once the store is flushed and closed. A replay's keys are of no use once it stops (the next replay
   * of the recording empties them first), and they never expire: left, every replay's stayed in the
   * database for good. Never throws: what it could not delete, the next replay of the recording does.
   */
  drop(): Promise<void>;
}

/**
 * Opens a replay's namespace: empties it first, so the replay starts from its recording alone (what an
 * earlier replay of the same recording left, say one killed before it could delete its keys, would be
 * restored as the series' history, newer than the frames about to play, and every frame dropped as
 * stale). A namespace that cannot be emptied fails the start: the replay carried on with the leftovers
 * (a warning), and served them.
 * @param reachable whether Redis answered at the start (not: no second connect timeout here)
 * @throws ConfigError naming REDIS_URL when Redis cannot be reached or refuses to delete the keys
 */
export async function openReplayNamespace(opts: { url: string; reachable: boolean; recordedAt: number; base?: string; log: Logger }): Promise<ReplayNamespace> {
  const { url, log } = opts;
  const prefix = replayKeyPrefix(opts.recordedAt, opts.base);
  let deleted: number;
  try {
    if (!opts.reachable) throw new Error('it did not answer at the start');
    deleted = await deleteKeysUnder(url, prefix, COMMAND_TIMEOUT_MS);
  } catch (e) {
    throw new ConfigError(
      `REDIS_URL: a replay empties its Redis namespace (${prefix}*) before it starts, and it could not (${redisErrorText(e)}); what an earlier replay of this recording left there would be served as its history. Start Redis (or fix its rights), or unset REDIS_URL to replay in memory`,
      { cause: e, info: { variable: 'REDIS_URL', value: '(hidden)', accepted: 'a Redis that answers and lets the replay delete its own keys' } },
    );
  }
  log.info(`replay: series kept in Redis under ${prefix}* (the live run's keys are not touched; deleted at a graceful stop)`, deleted ? { deletedFromEarlierReplay: deleted } : {});
  return {
    prefix,
    async drop() {
      try {
        const gone = await deleteKeysUnder(url, prefix, COMMAND_TIMEOUT_MS, AbortSignal.timeout(DROP_WITHIN_MS));
        log.info(`replay: deleted its ${gone} Redis keys under ${prefix}*`);
      } catch (e) {
        log.warn(`replay: its Redis keys under ${prefix}* were not all deleted (${redisErrorText(e)}); the next replay of this recording deletes them first`);
      }
    },
  };
}
