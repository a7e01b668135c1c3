import { performance } from 'node:perf_hooks';

/** How far ahead of the estimate and of the host a lone sample may be before it is doubted. */
const LEAP_MS = 10_000;

export interface ExchangeClockOptions {
  /** The host's monotonic clock in ms (default `performance.now`): it never steps, unlike the wall clock. */
  monotonic?: () => number;
  /** The host's wall clock, the estimate until the exchange has told its time (default `Date.now`). */
  wall?: () => number;
  /**
   * How long the best sample stands before a lower one may replace it (default 60 s). A lower bound
   * kept forever would outlive an exchange clock stepped back or running a little slow.
   */
  sampleTtlMs?: number;
}

/**
 * The exchange's time as the engine knows it: a lower bound, from every time the exchange has told
 * (`serverTime` of `GET /api/v3/time`, the event time `E` of every kline event). Each told time `t`,
 * received at host monotonic time `m`, says the exchange's clock read at least `t` at `m`, so it reads at
 * least `t + (now - m)` later (for an exchange running at least at real speed). `now()` is the highest
 * such bound among recent samples.
 *
 * A lower bound is what closedness needs: a REST row is final only if its close time is before the
 * exchange's time when it was asked, and an estimate that runs early can only take a closed row for a
 * forming one (which a later update or fill finalises), never the reverse.
 */
export class ExchangeClock {
  private readonly monotonic: () => number;
  private readonly wall: () => number;
  private readonly ttl: number;
  /** Exchange time minus host monotonic time, of the best recent sample; undefined until told. */
  private offset: number | undefined;
  private offsetAt = -Infinity;
  private samplesSeen = 0;
  /** A sample far ahead of both the estimate and the host, waiting for the next one to confirm it. */
  private leap: number | undefined;

  constructor(opts: ExchangeClockOptions = {}) {
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.wall = opts.wall ?? Date.now;
    this.ttl = opts.sampleTtlMs ?? 60_000;
    if (!(this.ttl > 0)) throw new TypeError(`ExchangeClock: sampleTtlMs must be > 0, got ${opts.sampleTtlMs}`);
  }

  /** The exchange's time now (ms), never ahead of it as far as the samples tell; the host's before any sample. */
  readonly now = (): number => {
    if (this.offset === undefined) return this.wall();
    return Math.floor(this.monotonic() + this.offset);
  };

  /** Whether the exchange has told its time at least once. */
  get synced(): boolean {
    return this.offset !== undefined;
  }

  /** Samples taken so far (for /health and tests). */
  get samples(): number {
    return this.samplesSeen;
  }

  /** Exchange time minus host wall time, as estimated now (positive: the exchange is ahead). */
  get skewMs(): number | undefined {
    return this.offset === undefined ? undefined : this.now() - this.wall();
  }

  /**
   * The exchange said its time was `exchangeTime`, heard just now (kline `E`, `serverTime`). Bad values
   * (not a positive finite number) are ignored. A sample more than LEAP_MS ahead of both the estimate
   * and the host's clock counts only once the next sample is as far ahead: one event stamped in 2100
   * set the clock there for a minute, and a reconnect's resync took a forming bar for closed (an
   * attacker-style probe). A sped-up simulator's clock, ahead at every sample, is followed a sample late.
   */
  observe(exchangeTime: number): void {
    if (!Number.isFinite(exchangeTime) || exchangeTime <= 0) return;
    const at = this.monotonic();
    const offset = exchangeTime - at;
    if (this.offset !== undefined && exchangeTime > Math.max(this.now(), this.wall()) + LEAP_MS) {
      const confirmed = this.leap !== undefined && exchangeTime >= this.leap;
      this.leap = exchangeTime;
      if (!confirmed) return;
    }
    this.leap = undefined;
    this.samplesSeen++;
    if (this.offset === undefined || offset >= this.offset || at - this.offsetAt > this.ttl) {
      this.offset = offset;
      this.offsetAt = at;
    }
  }

  /** Asks the exchange its time (`serverTime`) and takes it as a sample when the answer arrives. */
  async sync(serverTime: () => Promise<number>): Promise<void> {
    this.observe(await serverTime());
  }
}
