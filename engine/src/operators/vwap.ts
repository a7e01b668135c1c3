import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { bucketOpen } from '../domain/interval.ts';
import { formingAware, type Kernel, pointOf } from './forming-aware.ts';
import type { Point } from './point.ts';
import { requireInterval, requireTimeZone } from './validate.ts';

export interface VwapConfig {
  /** Session length: the VWAP restarts at each bucket of this interval; default `1d`. */
  anchor?: string;
  /** Shifts day-and-coarser sessions as Binance's `timeZone` does (e.g. `+08:00`); default UTC. */
  timeZone?: string | number;
  /** Closed bars a late correction may reach back; default 1000. */
  historyLength?: number;
}

interface VwapState {
  readonly session: number;
  readonly priceVolume: number;
  readonly volume: number;
}

/**
 * Volume-weighted average price anchored to a session: Σ(typical · volume) / Σ volume over the
 * session's bars so far, typical = (high + low + close) / 3. Forming-aware. While the session has
 * traded no volume there is no price to average, so nothing is emitted for those bars.
 *
 * ```
 * bars:   -a-b(forming)-b(closed)-|-c(next session)      vwap({ anchor: '1d' })
 * points: -p-q(preview)-r(closed)-|-s(restarted)
 * ```
 * Source errors and completion pass through; it emits no errors of its own.
 * @param config.anchor session interval (default `1d`); not an interval throws `TypeError`.
 * @param config.timeZone session offset (default UTC); malformed throws `TypeError`.
 * @param config.historyLength how far back a late correction of a closed bar recomputes.
 */
export function vwap(config: VwapConfig = {}): OperatorFunction<Bar, Point> {
  const { anchor = '1d', timeZone, historyLength } = config;
  const interval = requireInterval('vwap', 'anchor', anchor);
  const tzOffsetMs = requireTimeZone('vwap', timeZone);
  const kernel: Kernel<VwapState, number> = {
    initial: { session: NaN, priceVolume: 0, volume: 0 },
    step: (s, bar) => {
      const session = bucketOpen(bar.openTime, interval, tzOffsetMs);
      const base = session === s.session ? s : { session, priceVolume: 0, volume: 0 };
      const typical = (bar.high + bar.low + bar.close) / 3;
      const next = { session, priceVolume: base.priceVolume + typical * bar.volume, volume: base.volume + bar.volume };
      return [next, next.volume > 0 ? next.priceVolume / next.volume : undefined];
    },
  };
  return formingAware(kernel, { operator: 'vwap', point: pointOf, historyLength });
}
