/** A series clients watch, as both the engine's lifecycle and an edge's demand keep it. */
export interface Watched {
  watchers: number;
  /** When a client last asked for it or let it go; idle series are ended by this. */
  lastUsed: number;
}

/** One more client. */
export function watch(e: Watched, now: number): void {
  e.watchers++;
  e.lastUsed = now;
}

/** A client still wants it (a reconnect, an HTTP read): it is not idle. */
export function touch(e: Watched | undefined, now: number): void {
  if (e) e.lastUsed = now;
}

/** One client fewer (never below zero). */
export function unwatch(e: Watched | undefined, now: number): void {
  if (!e) return;
  e.watchers = Math.max(0, e.watchers - 1);
  e.lastUsed = now;
}
