// How much of the event loop live derived series take, each and together, over a sliding window;
// and which one to stop when together they take more than their share. A live operator runs in the
// engine's own turn, so one slow on live bars (the load-time check feeds other bars and defaults
// only) delayed every client's candles for as long as it was held.

/** One series' (or the total's) time in the buckets of the window, newest at `last`. */
interface Buckets {
  readonly ms: Float64Array;
  /** Index of the newest bucket written (time / bucketMs). */
  last: number;
  /** When it was first counted (ms): its rate is over the time since, up to the window. */
  readonly since: number;
}

/** The one to stop: its time and everyone's, over the window (ms). */
export interface OverShare {
  key: string;
  ownMs: number;
  totalMs: number;
}

/** Time spent per key over the last `windowMs` (in `buckets` steps), and whom to stop once the total passes `share` of it. */
export class LiveTimeShare {
  private readonly keys = new Map<string, Buckets>();
  private readonly total: Buckets;
  private readonly bucketMs: number;
  /** Time all keys together may take over the window (ms). */
  readonly limitMs: number;

  constructor(
    readonly windowMs: number,
    readonly share: number,
    private readonly buckets = 10,
  ) {
    this.bucketMs = windowMs / buckets;
    this.limitMs = windowMs * share;
    this.total = { ms: new Float64Array(buckets), last: Number.NEGATIVE_INFINITY, since: 0 };
  }

  /**
   * Counts `ms` spent by `key`, ending at `now` (ms, monotonic). When all keys together passed the
   * limit over the window, returns the one to stop: the highest rate (its time over the window, or
   * over the time since it was first counted: one stopped and back starts afresh and would otherwise
   * hide behind those counted for the whole window; a stop that named a cheap one for it was a
   * review's finding), divided by `holders(key)` (clients served by it: the cost of one popular
   * series is shared by all who watch it, forty cheap variants of one client each are not); else
   * undefined. The caller stops it and calls `forget`.
   */
  add(key: string, ms: number, now: number, holders: (key: string) => number = () => 1): OverShare | undefined {
    // A bad clock or reading counts nothing (a NaN had switched the check off for good).
    if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY) || !Number.isFinite(now)) return undefined;
    // Never behind the newest bucket written: a clock that steps back adds to the newest.
    const at = Math.max(Math.floor(now / this.bucketMs), this.total.last);
    let own = this.keys.get(key);
    if (!own) this.keys.set(key, (own = { ms: new Float64Array(this.buckets), last: at, since: now - ms }));
    this.advance(own, at);
    this.advance(this.total, at);
    own.ms[at % this.buckets]! += ms;
    this.total.ms[at % this.buckets]! += ms;
    const totalMs = sum(this.total.ms);
    if (totalMs <= this.limitMs) return undefined;
    let worst: OverShare | undefined;
    let worstScore = -1;
    for (const [k, b] of this.keys) {
      this.advance(b, at);
      const s = sum(b.ms);
      const score = s / Math.max(this.bucketMs, Math.min(this.windowMs, now - b.since)) / Math.max(1, holders(k));
      if (score > worstScore) [worst, worstScore] = [{ key: k, ownMs: s, totalMs }, score];
    }
    return worst;
  }

  /** Takes `key`'s time out of the window's total and stops counting it (stopped, or gone). */
  forget(key: string): void {
    const own = this.keys.get(key);
    if (!own) return;
    this.keys.delete(key);
    // The total is never behind a key: each add moves both.
    this.advance(own, this.total.last);
    for (let i = 0; i < this.buckets; i++) this.total.ms[i] = Math.max(0, this.total.ms[i]! - own.ms[i]!);
  }

  /** Keys counted now: those of running instances (a stop or a release forgets one). */
  get size(): number {
    return this.keys.size;
  }

  /** Clears the buckets that fell out of the window since `b.last`. */
  private advance(b: Buckets, at: number): void {
    const gone = at - b.last;
    if (!(gone > 0)) return;
    if (gone >= this.buckets) b.ms.fill(0);
    // By count: at a huge bucket index `i++` need not move i.
    else for (let k = 1; k <= gone; k++) b.ms[(b.last + k) % this.buckets] = 0;
    b.last = at;
  }
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}
