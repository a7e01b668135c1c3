import { intervalMs, isNativeInterval } from '../domain/interval.ts';

/**
 * How long an upstream socket may be silent before it reads as frozen. Binance pushes a kline only
 * when it changes, so a shard of illiquid pairs is silent for minutes; but every stream gets its
 * new kline at each bucket's start and its final at the end, trades or not (an empty one has n=0).
 * So a quiet shard is allowed its shortest interval plus a grace (at most 10 min); a busy one (klines
 * with no gap over a third of the stale time for twice the stale time, up to its silence: 10 s and
 * 60 s by default) keeps the configured stale time. A fixed 30 s replaced a quiet shard's socket
 * every 30 s and told every client `stale`.
 */
export const FINAL_GRACE_MS = 10_000;
/** However quiet, a socket silent this long is replaced: a dead TCP connection shows nothing else. */
export const MAX_QUIET_MS = 600_000;

/** Silence that is normal for what carries klines of this interval: the interval plus the grace, at most 10 min. */
function quietFor(intervalMs: number | undefined): number {
  return intervalMs === undefined ? MAX_QUIET_MS : Math.min(intervalMs + FINAL_GRACE_MS, MAX_QUIET_MS);
}

/** The silence that is normal for a shard (0: only the configured stale time applies). */
export function quietAllowanceMs(heard: boolean, busy: boolean, shortestIntervalMs: number | undefined): number {
  // Before any kline, nothing is known: a socket that only sends junk is replaced at the stale time.
  return !heard || busy ? 0 : quietFor(shortestIntervalMs);
}

/** How long one stream may send nothing while its socket delivers others (it gets a kline at each bucket's start). */
export function streamSilenceMs(stream: string): number {
  return quietFor(streamIntervalMs(stream));
}

/** `btcusdt@kline_1h` (or `…@kline_1h@+08:00`) → its interval in ms; undefined for another stream. */
export function streamIntervalMs(stream: string): number | undefined {
  const at = stream.indexOf('@kline_');
  if (at < 0) return undefined;
  const end = stream.indexOf('@', at + 7);
  const name = stream.slice(at + 7, end < 0 ? undefined : end);
  return isNativeInterval(name) ? intervalMs(name) : undefined;
}

/**
 * Whether a shard's klines come steadily (no gap over a third of `staleAfterMs` for twice it, up to
 * the last one): two numbers and one comparison per kline. A new socket inherits the verdict until its
 * own klines say otherwise: a busy shard replaced during a freeze stays busy (its replacement's
 * silence is a freeze too, not a quiet market).
 */
export class KlineFlow {
  private since = 0;
  private last: number | undefined;
  private wasBusy = false;
  private readonly gapMs: number;
  private readonly forMs: number;

  constructor(staleAfterMs: number) {
    this.gapMs = staleAfterMs / 3;
    this.forMs = 2 * staleAfterMs;
  }

  note(at: number): void {
    if (this.last === undefined ? !this.wasBusy : at - this.last > this.gapMs) this.since = at;
    this.last = at;
  }

  /** The shard moved to a new socket: the gap across it (an outage) is not the market's. */
  bridge(): void {
    this.wasBusy = this.busy;
    this.last = undefined;
  }

  get busy(): boolean {
    return this.last === undefined ? this.wasBusy : this.last - this.since >= this.forMs;
  }
}
