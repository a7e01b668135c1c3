// How much of the event loop live derived series take, each and together, over a sliding window;
// and which one to stop when together they take more than their share. A live operator runs in the
// engine's own turn, so one slow on live bars (the load-time check feeds other bars and defaults
// only) delayed every client's candles for as long as it was held.

/** One series' (or the total's) time in the buckets of the window, newest at `last`. */
interface Buckets {
  readonly ms: Float64Array;
  /** Index of the newest bucket written (time / bucketMs). */
  last: number;
}

/** The one to stop: its time and everyone's, over the window (ms). */
export interface OverShare {
  key: string;
  ownMs: number;
  totalMs: number;
}

/** Time spent per key over the last `windowMs` (in `buckets` steps), and the largest spender once the total passes `share` of it. */
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
    this.total = { ms: new Float64Array(buckets), last: Number.NEGATIVE_INFINITY };
  }

  /**
   * Counts `ms` spent by `key`, ending at `now` (ms, monotonic). Returns the key that spent most over
   * the window when all of them together passed the limit, else undefined. The caller stops it and
   * calls `forget`, which takes its time out of the total: the next one is not stopped for its time.
   */
  add(key: string, ms: number, now: number): OverShare | undefined {
    // Never behind the newest bucket written: a clock that steps back adds to the newest.
    const at = Math.max(Math.floor(now / this.bucketMs), this.total.last);
    let own = this.keys.get(key);
    if (!own) this.keys.set(key, (own = { ms: new Float64Array(this.buckets), last: at }));
    this.advance(own, at);
    this.advance(this.total, at);
    own.ms[at % this.buckets]! += ms;
    this.total.ms[at % this.buckets]! += ms;
    const totalMs = sum(this.total.ms);
    if (totalMs <= this.limitMs) return undefined;
    let worst: OverShare | undefined;
    for (const [k, b] of this.keys) {
      this.advance(b, at);
      const s = sum(b.ms);
      if (!worst || s > worst.ownMs) worst = { key: k, ownMs: s, totalMs };
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

  /** Keys counted now (for tests: every stopped or gone one is forgotten). */
  get size(): number {
    return this.keys.size;
  }

  /** Clears the buckets that fell out of the window since `b.last`. */
  private advance(b: Buckets, at: number): void {
    if (at <= b.last) return;
    if (at - b.last >= this.buckets) b.ms.fill(0);
    else for (let i = b.last + 1; i <= at; i++) b.ms[i % this.buckets] = 0;
    b.last = at;
  }
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}
