import type { SeriesId } from '../domain/series-id.ts';

/** How often frees Redis has not taken are tried again (ms). */
export const FREE_RETRY_MS = 5000;

/** Most frees tried again in one round (the rest in the next ones). */
const MAX_RETRIES_PER_ROUND = 500;

export interface SeriesKeepOptions<T extends { readonly key: string } = SeriesId> {
  /**
   * Sets a series' keys to expire in `ttlMs`, or keeps them for good (0), under the current lease:
   * true once Redis took it, false when fenced; undefined when this node does not lead.
   */
  expire(id: T, ttlMs: number): Promise<boolean> | undefined;
  /** How long Redis keeps a freed series (a client back within it resumes; how many, Redis bounds). */
  freedTtlMs: number;
  retryMs?: number;
}

/**
 * A SeriesKeep's `expire` for a leader's keys: `call` under its lease. Not leading, a keep is the
 * leader's to make (undefined) and a free is let go (true): the keys are the leader's now, and a free
 * kept for a later term of this node expired keys edges held again by then (a review: a standby's frees
 * were all sent 5 s into its next term, hours later).
 */
export function leaderExpire<T extends { readonly key: string }>(lease: () => { leader: boolean; token?: string }, call: (token: string, id: T, ttlMs: number) => Promise<boolean>): SeriesKeepOptions<T>['expire'] {
  return (id, ttlMs) => {
    const { leader, token } = lease();
    if (!leader || !token) return ttlMs === 0 ? undefined : Promise.resolve(true);
    return call(token, id, ttlMs);
  };
}

/**
 * The leader's say over how long Redis keeps each series' keys. A series written or held in a term
 * is kept for good, once per term (it may have been freed before, by this node or another, and set to
 * expire); a freed one is set to expire. Either call can fail (Redis away, the term fenced): each is
 * tried again every FREE_RETRY_MS (a keep also with the series' next write) until Redis takes it, the
 * series is freed or kept again, or (a keep) this node no longer leads. Without the retries a failed
 * free left the keys for good, and a failed keep left a live series' keys to expire, and counted
 * among the freed ones (a quiet series may go long without a write). How many freed series the
 * cluster keeps is bounded in Redis, across leaders (FencedWriter.expireSeries).
 */
export class SeriesKeep<T extends { readonly key: string } = SeriesId> {
  /** Series kept in this term; bounded by the live series. */
  private kept = new Set<string>();
  /** Frees Redis has not taken yet, with their expiry; bounded by the series there are (one per key). */
  private readonly freeing = new Map<string, { id: T; ttlMs: number }>();
  /** Keeps Redis has not taken yet; bounded likewise. */
  private readonly keeping = new Map<string, T>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SeriesKeepOptions<T>) {}

  /** Frees waiting for Redis (tests, health). */
  get pendingFrees(): number {
    return this.freeing.size;
  }

  /** Keeps waiting for Redis (tests). */
  get pendingKeeps(): number {
    return this.keeping.size;
  }

  keep(id: T): void {
    // Held again, whether or not this node leads now: an earlier free is void (a standby that takes
    // the lead must not expire it).
    this.freeing.delete(id.key);
    if (this.kept.has(id.key)) return;
    this.tryKeep(id);
  }

  free(id: T): void {
    this.kept.delete(id.key);
    this.keeping.delete(id.key);
    const e = { id, ttlMs: this.o.freedTtlMs };
    this.freeing.set(id.key, e);
    this.tryFree(e);
  }

  /** A new term (or none): every series is kept again with its next write. */
  newTerm(): void {
    this.kept = new Set();
    if (this.freeing.size || this.keeping.size) this.later();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private stopped = false;

  /** Keeps `id` (counted as done until Redis says otherwise); one not taken waits for the next round. */
  private tryKeep(id: T): void {
    if (this.stopped) return;
    const taken = this.o.expire(id, 0);
    // Not leading: the leader keeps what it writes.
    if (!taken) return void this.keeping.delete(id.key);
    this.kept.add(id.key);
    const failed = () => {
      this.kept.delete(id.key);
      // Freed since: the free is what is due now.
      if (this.freeing.has(id.key)) return;
      this.keeping.set(id.key, id);
      this.later();
    };
    taken.then((ok) => (ok ? void this.keeping.delete(id.key) : failed()), failed);
  }

  private tryFree(e: { id: T; ttlMs: number }): void {
    if (this.stopped) return;
    const taken = this.o.expire(e.id, e.ttlMs);
    if (!taken) return this.later();
    taken.then(
      (ok) => {
        if (!ok) return this.later();
        if (this.freeing.get(e.id.key) === e) this.freeing.delete(e.id.key);
      },
      () => this.later(),
    );
  }

  private later(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      let n = 0;
      // Keeps first: live series' keys matter more than freed ones' (and many failing frees must not starve them).
      for (const id of [...this.keeping.values()]) {
        if (n++ >= MAX_RETRIES_PER_ROUND) return this.later();
        // Kept meanwhile (a write): nothing left to do.
        if (this.kept.has(id.key)) this.keeping.delete(id.key);
        else this.tryKeep(id);
      }
      for (const e of [...this.freeing.values()]) {
        if (n++ >= MAX_RETRIES_PER_ROUND) return this.later();
        this.tryFree(e);
      }
    }, this.o.retryMs ?? FREE_RETRY_MS);
    this.timer.unref();
  }
}
