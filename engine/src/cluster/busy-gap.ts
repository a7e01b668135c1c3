/**
 * A busy leader's calls go at most this often (ms). Much of a call's cost, in the leader, in Redis and
 * in every edge, is per call (a write and a read on each socket), not per update: under a sustained
 * flow, waiting a moment for a larger batch costs each update at most this much latency and saves a
 * third of Redis's CPU per update (5,000 updates/s in 20 streams: 3.8 → 13.4 updates per call; Redis
 * 34–39 → 23–25 µs, an edge 29–32 → 23–24 µs, the leader 44–49 → 35–36 µs per update). An idle or
 * bursty flow (an exchange's tick every 2 s) does not wait (see BUSY_AFTER).
 */
export const BUSY_GAP_MS = 2;

/**
 * The gap grows with the calls' size, up to MAX_BUSY_GAP_MS: a flow whose calls carry more than
 * UPDATES_PER_GAP_MS updates per ms of BUSY_GAP_MS waits that much longer (a call of 24 updates: 6
 * ms). Each call costs the processes it wakes (the leader for its answer, Redis, every edge) about
 * 500 µs of CPU in all on a virtual machine's cores, whatever it carries, against about 66 µs per
 * update (fitted to the runs below): a flow above UPDATES_PER_GAP_MS updates per ms (4,000/s) so
 * grows its gap to the cap. At 5,000 updates/s in 20 streams (bench/micro/cluster-cost.ts 250), with
 * 8 per ms and a 6 ms cap, calls carried 15 updates and the three processes took 94–104 µs per
 * update; with these, 55–57 updates and 73–77 µs (Redis 27–30 → 20, an edge 29–30 → 18–19). A flow
 * of 2,000 updates/s keeps BUSY_GAP_MS (the whole exchange's 1m candles at Binance's pace are about
 * 750/s); bursts do not wait (BUSY_AFTER).
 */
export const MAX_BUSY_GAP_MS = 10;
export const UPDATES_PER_GAP_MS = 4;

/** The gap after a call of `carried` updates (ms). */
export const busyGapAfter = (carried: number): number => Math.min(MAX_BUSY_GAP_MS, Math.max(BUSY_GAP_MS, carried / UPDATES_PER_GAP_MS));

/**
 * Calls that go at once after a pause of IDLE_MS without any (a burst, every stream's tick at once,
 * read in a few chunks, makes one to three); from the next one on the flow counts as sustained.
 */
export const BUSY_AFTER = 3;
const IDLE_MS = 10 * BUSY_GAP_MS;

/** When a writer's next call may go: at once while the flow is idle or bursty, a gap after the last one once it is sustained (BUSY_GAP_MS, longer after a large call). */
export class BusyGap {
  /** Calls since the last pause of IDLE_MS (the flow is sustained from BUSY_AFTER on). */
  private callsSincePause = 0;
  /** When the last call went (ms, performance.now()). */
  private lastCallAt = -Infinity;
  /** The gap after it (see busyGapAfter). */
  private gapMs = BUSY_GAP_MS;
  /** Set while a busy flow waits for the gap since the last call. */
  private gapTimer: NodeJS.Timeout | undefined;

  /** `flush`: called again once the gap has passed (when `admits` said no). */
  constructor(private readonly flush: () => void) {}

  /**
   * Whether the next call is one of a burst's first BUSY_AFTER (after a pause of IDLE_MS): those go
   * without waiting for each other's answers (see BarWriteQueue), as they go without waiting for the gap.
   */
  get bursting(): boolean {
    return this.callsSince(performance.now()) < BUSY_AFTER;
  }

  /** Calls since the last pause, as of `now` (none once IDLE_MS passed without one; `admits` resets the count then). */
  private callsSince(now: number): number {
    return now - this.lastCallAt >= IDLE_MS ? 0 : this.callsSincePause;
  }

  /** Whether calls go now, counted as one more (`full`: a full batch waits, which never waits for the gap). */
  admits(full: boolean): boolean {
    const now = performance.now();
    this.callsSincePause = this.callsSince(now);
    if (this.callsSincePause >= BUSY_AFTER && !full) {
      if (this.gapTimer) return false;
      const wait = this.lastCallAt + this.gapMs - now;
      if (wait > 0) {
        this.gapTimer = setTimeout(this.afterGap, wait);
        return false;
      }
    }
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.callsSincePause++;
    return true;
  }

  /** The calls went, carrying `carried` updates: the gap counts from now. */
  sent(carried: number): void {
    this.lastCallAt = performance.now();
    this.gapMs = busyGapAfter(carried);
  }

  private readonly afterGap = (): void => {
    this.gapTimer = undefined;
    this.flush();
  };
}
