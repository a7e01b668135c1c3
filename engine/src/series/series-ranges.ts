// A series' points over a range of bars (GET of a series' history), computed on request and not
// kept: a few at a time, a short queue, a few per client address (one cannot take every place).
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { LogDedup } from '../log-dedup.ts';
import { anchoredFeedStart } from './anchored-runs.ts';
import type { SeriesPoint } from './define-series.ts';
import { candlesError, type OlderBars } from './older-bars.ts';
import type { RunSlices } from './run-slices.ts';
import { SeriesBusyError, SeriesFailedError } from './series-errors.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';
import type { SeriesRequest } from './series-requests.ts';
import { blockMsOf, openRun } from './series-run.ts';

/** The registry's range computations, with their places and queue. */
export class SeriesRanges {
  private rangeJobs = 0;
  /** Range requests running or queued, per client address. */
  private readonly rangesOf = new Map<string, number>();
  private readonly rangeQueue: Array<() => void> = [];

  constructor(
    private readonly deps: Pick<SeriesRegistryDeps, 'onError' | 'maxRangeJobs' | 'maxRangeQueue' | 'maxRangePerAddress'>,
    private readonly older: Pick<OlderBars, 'barsUpTo' | 'olderThan'>,
    private readonly slices: Pick<RunSlices, 'pushSlices'>,
    private readonly dedup: LogDedup,
    private readonly isStopped: () => boolean,
  ) {}

  /** See `SeriesRegistry.range` (which refuses a failed instance's series first). */
  async range(req: SeriesRequest, id: SeriesId, endTime: number | undefined, limit: number, address?: string): Promise<SeriesPoint[]> {
    // No address (the CLI, a spec): nothing to share out.
    if (address === undefined) return this.rangeIn(req, id, endTime, limit, address);
    const mine = this.rangesOf.get(address) ?? 0;
    if (mine >= (this.deps.maxRangePerAddress ?? 4)) throw new SeriesBusyError('too many derived series requests from this address at once; try again shortly');
    this.rangesOf.set(address, mine + 1);
    try {
      return await this.rangeIn(req, id, endTime, limit, address);
    } finally {
      const left = this.rangesOf.get(address)! - 1;
      if (left > 0) this.rangesOf.set(address, left);
      else this.rangesOf.delete(address);
    }
  }

  /** Wakes every range waiting for a place (each then refuses: the engine stops). */
  stop(): void {
    for (const wake of this.rangeQueue.splice(0)) wake();
  }

  private async rangeIn(req: SeriesRequest, id: SeriesId, endTime: number | undefined, limit: number, address?: string): Promise<SeriesPoint[]> {
    await this.rangeSlot();
    try {
      const blockMs = blockMsOf(req, id);
      let bars: Bar[];
      try {
        bars = await this.older.barsUpTo(id, endTime, limit, address);
      } catch (e) {
        // The candles themselves could not be had: not the series' fault.
        throw candlesError(e);
      }
      if (bars.length === 0) return [];
      const from = bars[0]!.openTime;
      const to = bars[bars.length - 1]!.openTime;
      const start = anchoredFeedStart(from, blockMs);
      // Strict: without its whole warm-up a range would silently lose its first blocks' points.
      const warm = await this.older.olderThan(id, from, start, address);
      const points = new Map<number, SeriesPoint>();
      const run = openRun(req, blockMs, warm.inputFrom, id.interval, (p) => {
        if (p.time >= from && p.time <= to) points.set(p.time, p);
      });
      try {
        await this.slices.pushSlices(run, [...warm.bars, ...bars], { series: req.def.name, label: req.label, key: id.key });
      } finally {
        run.subscription.unsubscribe();
      }
      return [...points.values()].sort((a, b) => a.time - b.time);
    } catch (e) {
      if (e instanceof SeriesBusyError) throw e;
      this.deps.onError(req.def.name);
      this.dedup.warn(rangeFailureKey(req.def.name, e), 'derived series failed on a range request', { series: req.label, key: id.key, err: e as Error });
      throw new SeriesFailedError((e as Error).message, { cause: e });
    } finally {
      this.releaseRangeSlot();
    }
  }

  private async rangeSlot(): Promise<void> {
    const { maxRangeJobs = 4, maxRangeQueue = 32 } = this.deps;
    if (this.rangeJobs < maxRangeJobs) {
      this.rangeJobs++;
      return;
    }
    if (this.rangeQueue.length >= maxRangeQueue) throw new SeriesBusyError('too many derived series requests in progress; try again shortly');
    await new Promise<void>((r) => this.rangeQueue.push(r));
    if (this.isStopped()) throw new SeriesBusyError('the engine is stopping');
    this.rangeJobs++;
  }

  private releaseRangeSlot(): void {
    this.rangeJobs--;
    this.rangeQueue.shift()?.();
  }
}

/**
 * A failed range's log key: its series and the shape of its error. Not the label (a client picks its
 * parameters) nor the message's numbers (a bar's time, a count): keyed by those, each request could
 * write a line of its own (an attacker-style probe: 160 lines in 20 s, one per request).
 */
export function rangeFailureKey(series: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return `range:${series}:${msg.slice(0, 200).replace(/\d+/g, '#')}`;
}
