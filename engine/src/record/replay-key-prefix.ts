/** Replays of one recording that may run at once on one Redis database, each in a slot of its own. */
export const REPLAY_SLOTS = 8;

/**
 * The Redis namespace of a replay: `replay:<the recording's start, ms>:<slot>:`, after `base` (the
 * prefix the engine's keys have otherwise; specs isolate themselves with one). A replay with REDIS_URL
 * wrote its series under the live run's keys, so it overwrote the live series in a shared database;
 * under its own namespace it touches none of them. Each recording has its own, and each replay of it
 * at once its own slot (replay-slot.ts): two replays of one recording shared one namespace, and the
 * second's start emptied the first's series.
 * @param recordedAt the meta line's `t` (checked by metaProblem; whole ms are taken)
 * @throws TypeError for a time that is not ms since 1970 or a slot out of range: the name must hold digits only
 */
export function replayKeyPrefix(recordedAt: number, base = '', slot = 0): string {
  return `${base}replay:${recordingMs(recordedAt)}:${checkSlot(slot)}:`;
}

/** The key a replay holds its slot with (outside the namespace, which is emptied once it is held). */
export function replaySlotKey(recordedAt: number, base = '', slot = 0): string {
  return `${base}replay-slot:${recordingMs(recordedAt)}:${checkSlot(slot)}`;
}

function recordingMs(recordedAt: number): number {
  const ms = Math.floor(recordedAt);
  if (!(Number.isSafeInteger(ms) && ms >= 0)) throw new TypeError(`recordedAt: expected ms since 1970, got ${recordedAt}`);
  return ms;
}

function checkSlot(slot: number): number {
  if (!(Number.isSafeInteger(slot) && slot >= 0 && slot < REPLAY_SLOTS)) throw new TypeError(`slot: expected 0..${REPLAY_SLOTS - 1}, got ${slot}`);
  return slot;
}
