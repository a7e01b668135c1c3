/**
 * The Redis namespace of a replay: `replay:<the recording's start, ms>:`, after `base` (the prefix the
 * engine's keys have otherwise; specs isolate themselves with one). A replay with REDIS_URL wrote its
 * series under the live run's keys, so it overwrote the live series in a shared database; under its
 * own namespace it touches none of them, and each recording has its own.
 * @param recordedAt the meta line's `t` (checked by metaProblem; whole ms are taken)
 * @throws TypeError for a time that is not ms since 1970: the name must hold digits only
 */
export function replayKeyPrefix(recordedAt: number, base = ''): string {
  const ms = Math.floor(recordedAt);
  if (!(Number.isSafeInteger(ms) && ms >= 0)) throw new TypeError(`recordedAt: expected ms since 1970, got ${recordedAt}`);
  return `${base}replay:${ms}:`;
}
