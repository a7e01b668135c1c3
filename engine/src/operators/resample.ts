import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { bucketOpen, type Interval, nextOpen } from '../domain/interval.ts';
import { emitting } from './emitting.ts';
import { requireInterval, requireTimeZone } from './validate.ts';

export interface ResampleConfig {
  /** Interval of the input bars (e.g. `1m`); `interval` must be tiled by it. */
  sourceInterval: string;
  /** Shifts day-and-coarser buckets as Binance's klines `timeZone` does (`+08:00`, `-5:30`, `8`); default UTC. */
  timeZone?: string | number;
}

const DAY = 86_400_000;

/**
 * True when every `source` bucket lies inside one `target` bucket. Sub-day buckets sit on the epoch
 * grid; days, weeks and months are shifted by the time zone (a day-or-coarser source is assumed to
 * be fetched with the same `timeZone`), weeks start on Monday.
 */
function tiles(target: Interval, source: Interval, tzOffsetMs: number): boolean {
  const calendar = (iv: Interval) => iv.unit === 'd' || iv.unit === 'w' || iv.unit === 'M';
  if (!calendar(target)) return !calendar(source) && target.ms % source.ms === 0;
  if (!calendar(source)) return DAY % source.ms === 0 && tzOffsetMs % source.ms === 0;
  if (target.unit === 'M') return source.unit === 'd' ? source.count === 1 : source.unit === 'M' && target.count % source.count === 0;
  if (target.unit === 'w') return source.unit === 'w' ? target.count % source.count === 0 : source.unit === 'd' && source.count === 1;
  return source.unit === 'd' && target.count % source.count === 0;
}

function merge(agg: Bar | undefined, bar: Bar, openTime: number): Bar {
  if (!agg) return { ...bar, openTime };
  return {
    openTime,
    open: agg.open,
    high: Math.max(agg.high, bar.high),
    low: Math.min(agg.low, bar.low),
    close: bar.close,
    volume: agg.volume + bar.volume,
    closed: bar.closed,
  };
}

/**
 * Builds bars of a coarser interval from a finer bar stream, aligned as Binance aligns klines
 * (epoch grid below a day, weeks from Monday 00:00, calendar months, `timeZone` shifting days and
 * coarser). Each input update yields an update of its bucket's bar; an upsert of the forming input
 * bar replaces its contribution rather than adding to it. The output is forming until the bucket's
 * last input bar (the one ending where the bucket ends) arrives closed; then it is emitted with
 * `closed: true`. Missing inputs are never filled in: the bucket just lacks them, and if its last
 * input never comes, the bucket is closed with what it has as soon as an input of a later bucket
 * arrives. Inputs older than the newest input bar (out of order, or corrections of a settled bar)
 * are ignored; a bucket still forming when the source completes stays forming.
 *
 * ```
 * 1m in:  -a-b-b'-c-d-|     minutes 0, 1, 1 (upsert), 2 (closed), 3
 * 3m out: -w-x-x'-Y-z-|     resample('3m', { sourceInterval: '1m' }): w..x' forming, Y closed, z next bucket
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param interval target interval (e.g. `15m`, `4h`, `1w`, `1M`, or custom `45m`); it must be tiled
 *   by `sourceInterval`, else `TypeError` naming `interval`.
 * @param config.sourceInterval interval of the input; not an interval throws `TypeError`.
 * @param config.timeZone offset for day-and-coarser buckets; malformed throws `TypeError`.
 */
export function resample(interval: string, config: ResampleConfig): OperatorFunction<Bar, Bar> {
  const target = requireInterval('resample', 'interval', interval);
  const source = requireInterval('resample', 'sourceInterval', config?.sourceInterval);
  const tzOffsetMs = requireTimeZone('resample', config.timeZone);
  if (!tiles(target, source, tzOffsetMs)) {
    throw new TypeError(`resample: interval '${interval}' is not built of whole '${source.name}' bars${tzOffsetMs ? ' in that timeZone' : ''}`);
  }
  // Days and coarser input bars are themselves shifted by the time zone.
  const sourceTz = source.unit === 'd' || source.unit === 'w' || source.unit === 'M' ? tzOffsetMs : 0;
  return emitting<Bar, Bar>((subscriber) => {
    let bucket = NaN;
    let bucketEnd = NaN;
    /** Aggregate of the bucket's settled inputs (all but the newest). */
    let settled: Bar | undefined;
    /** The newest input of the bucket; its updates replace each other. */
    let latest: Bar | undefined;
    let emittedClosed = false;
    return {
      next: (bar) => {
        if (latest && bar.openTime < latest.openTime) return;
        const open = bucketOpen(bar.openTime, target, tzOffsetMs);
        if (open !== bucket) {
          if (open < bucket) return;
          if (latest && !emittedClosed) subscriber.next({ ...merge(settled, latest, bucket), closed: true });
          bucket = open;
          bucketEnd = nextOpen(open, target, tzOffsetMs);
          settled = undefined;
          latest = undefined;
          emittedClosed = false;
        } else if (emittedClosed) {
          return;
        }
        if (latest && bar.openTime > latest.openTime) settled = merge(settled, latest, bucket);
        latest = bar;
        const closed = bar.closed && nextOpen(bar.openTime, source, sourceTz) === bucketEnd;
        emittedClosed = closed;
        subscriber.next({ ...merge(settled, bar, bucket), closed });
      },
      finalize: () => {
        settled = latest = undefined;
      },
    };
  });
}
