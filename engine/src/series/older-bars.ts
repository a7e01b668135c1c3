// The bars a derived series needs before the hot window: an anchored warm-up (a live instance's or a
// range's) and a range's own bars deeper than the window, from the window first, then the exchange in
// pages. A live warm-up refused by the exchange budget waits for it (bounded) rather than start short.
import type { Bar } from '../domain/bar.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import { intervalMs } from '../domain/interval.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { LogDedup } from '../log-dedup.ts';
import type { RunSlices } from './run-slices.ts';
import { SeriesBusyError } from './series-errors.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';

/** Most bars fetched from the exchange for one warm-up or range (2 × the largest warm-up, and a range). */
const MAX_OLDER_BARS = 20_000;
/**
 * How long a live instance's first warm-up refused by the warm-up budget waits for it, in all, before
 * it starts on the window alone (the wait alone stays within the 60 s an edge waits for the leader's
 * answer). A restart (after a repair or a failure) waits less: its clients see no new point meanwhile,
 * and its older pages are mostly in the history cache, which costs no budget.
 */
const WARM_UP_MAX_WAIT_MS = 45_000;
const RESTART_MAX_WAIT_MS = 5_000;
const PAGE = 1000;

/** `partial`: the window's bars alone, older ones could not be had. */
export type WarmUpBars = { bars: Bar[]; inputFrom: number | undefined; partial?: boolean };

/** Candles a range needs that could not be had: the exchange (or the cluster's leader) refused or failed: try again. */
export function candlesError(e: unknown): Error {
  return new SeriesBusyError(`could not load the candles: ${(e as Error).message}`, { cause: e });
}

/** The registry's reads of older bars: from its window, then `deps.olderBars`. */
export class OlderBars {
  /** Warm-ups waiting for the warm-up budget (see `pause`). */
  private readonly pauses = new Set<() => void>();

  constructor(
    private readonly deps: Pick<SeriesRegistryDeps, 'history' | 'olderBars'>,
    private readonly slices: Pick<RunSlices, 'inTurn'>,
    private readonly dedup: LogDedup,
    private readonly isStopped: () => boolean,
  ) {}

  needsOlder(id: SeriesId, before: number, start: number): boolean {
    return start < before && this.deps.olderBars !== undefined && (this.deps.history(id)[0]?.openTime ?? before) > start;
  }

  /**
   * The bars before `before` from `start` on (warm-up), from the window and then the exchange, and
   * from when the input is whole: for a range, a failed fetch rejects (SeriesBusyError, see `range`).
   */
  async olderThan(id: SeriesId, before: number, start: number, address?: string): Promise<WarmUpBars> {
    try {
      return await this.older(id, before, start, address);
    } catch (e) {
      throw candlesError(e);
    }
  }

  /**
   * A live instance's warm-up. Refused by the budget warm-ups share (the exchange's weight is one for
   * all, and a client may spend it on long warm-ups), it waits the time the refusal gives and asks
   * again, for up to WARM_UP_MAX_WAIT_MS, rather than start on part of its bars: an instance is shared
   * by every client, and values computed on a short window stay wrong (fewer, and unanchored) until
   * it is released.
   */
  async olderForWarmUp(id: SeriesId, before: number, start: number, alive: () => boolean, restart: boolean, address?: string): Promise<WarmUpBars> {
    const until = Date.now() + (restart ? RESTART_MAX_WAIT_MS : WARM_UP_MAX_WAIT_MS);
    for (;;) {
      try {
        // In the shared turns: warm-ups refused together wake together, each copying its window.
        return await this.slices.inTurn(() => this.older(id, before, start, address));
      } catch (e) {
        // Gone meanwhile (disposed, or the engine stops): its caller drops the result.
        if (!alive()) return { bars: [], inputFrom: undefined };
        const retryS = e instanceof HistoryRefusedError ? e.info.retryAfterSec : undefined;
        if (retryS === undefined || Date.now() + retryS * 1000 > until) return this.partial(id, before, start, e);
        // One line for all (a flood starts hundreds of series; a line each made the log grow with them).
        this.dedup.warn('older-wait', 'derived series warm-ups wait for the exchange budget', { key: id.key, retryAfterSec: retryS, waiting: this.pauses.size + 1 });
        await this.pause(Math.max(1, retryS) * 1000);
        if (!alive()) return { bars: [], inputFrom: undefined };
      }
    }
  }

  /** The newest `limit` bars opening at or before `endTime` (the newest without it), oldest first. */
  async barsUpTo(id: SeriesId, endTime: number | undefined, limit: number, address?: string): Promise<Bar[]> {
    const window = this.deps.history(id);
    const inWindow = endTime === undefined ? window : window.filter((b) => b.openTime <= endTime);
    const bars = inWindow.slice(Math.max(0, inWindow.length - limit));
    if (bars.length >= limit || !this.deps.olderBars) return bars;
    // Deeper than the window: the exchange's bars before it (as GET /candles serves them).
    const before = bars.length ? bars[0]!.openTime - 1 : (endTime ?? Number.MAX_SAFE_INTEGER);
    const older = await this.fetchOlder(id, before, limit - bars.length, Number.NEGATIVE_INFINITY, address);
    return [...older, ...bars];
  }

  /** Ends every wait for the warm-up budget at once (the engine stops). */
  stop(): void {
    for (const done of [...this.pauses]) done();
  }

  /** A wait that `stop` ends at once (its timer released). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pauses.add(done);
    });
  }

  private async older(id: SeriesId, before: number, start: number, address?: string): Promise<WarmUpBars> {
    if (start >= before) return { bars: [], inputFrom: start };
    const window = this.windowBars(id, start, before);
    const firstInWindow = window[0]?.openTime ?? before;
    if (firstInWindow <= start || !this.deps.olderBars) return { bars: window, inputFrom: firstInWindow <= start ? start : window[0]?.openTime };
    const wanted = Math.min(MAX_OLDER_BARS, Math.ceil((firstInWindow - start) / intervalMs(id.interval)));
    const older = await this.fetchOlder(id, firstInWindow - 1, wanted, start, address);
    return { bars: [...older, ...window], inputFrom: start };
  }

  /** The window's bars alone, when older ones could not be had: values start later. */
  private partial(id: SeriesId, before: number, start: number, e: unknown): WarmUpBars {
    // One line for all, as 'older-wait': keyed by series, a flood over 1,500 symbols logged ~4 lines an instance.
    this.dedup.warn('older-partial', 'older bars for a derived series warm-up could not be fetched; values start later', { key: id.key, err: e as Error });
    const window = this.windowBars(id, start, before);
    return { bars: window, inputFrom: window[0]?.openTime, partial: true };
  }

  /** The window's bars in [start, before). */
  private windowBars(id: SeriesId, start: number, before: number): Bar[] {
    return this.deps.history(id).filter((b) => b.openTime >= start && b.openTime < before);
  }

  private async fetchOlder(id: SeriesId, endTime: number, wanted: number, start: number, address?: string): Promise<Bar[]> {
    const pages: Bar[][] = [];
    let end = endTime;
    let left = wanted;
    while (left > 0 && !this.isStopped()) {
      const page = (await this.deps.olderBars!(id, end, Math.min(PAGE, left), address)).filter((b) => b.openTime <= end && b.openTime >= start && b.closed);
      if (page.length === 0) break;
      pages.unshift(page);
      left -= page.length;
      end = page[0]!.openTime - 1;
      if (end < start) break;
    }
    return pages.flat();
  }
}
