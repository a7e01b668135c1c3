import type { SeriesId } from '../domain/series-id.ts';

/**
 * Why a series cannot be served: the wire `code` of the error clients get. `series_busy`: a derived
 * series at the cluster leader's registry caps (SeriesBusyError there), refused as ROLE=all refuses it.
 * `no_leader`: an edge asked for a series while no ingest node leads the cluster (nobody can start it).
 */
export type DemandRefusal = 'symbol_not_trading' | 'series_capacity' | 'series_busy' | 'unknown_interval' | 'rate_limited' | 'no_leader';

export type DemandOutcome = { ok: true } | { ok: false; code: DemandRefusal; message: string; retryAfterSec?: number };

/** MAX_ON_DEMAND_SERIES=0: no series but the configured ones (told before the address's rate is spent). */
export const NOT_SERVED_ON_DEMAND: DemandOutcome = { ok: false, code: 'series_capacity', message: 'this engine serves only its configured series (MAX_ON_DEMAND_SERIES=0)' };

/**
 * Demand for a series, as a message: who serves clients says which series it wants and for how long;
 * whoever runs the pipelines makes them live. In one process the series lifecycle answers directly;
 * in a cluster an edge carries the same calls to the ingest node (through Redis).
 *
 * Every `want` whose outcome is ok (or still pending) is balanced by one `release`.
 */
export interface SeriesDemand {
  /** Whether the series is live now: a client can take its snapshot at once. */
  isLive(id: SeriesId): boolean;
  /**
   * Asks for the series and holds it; resolves when it is live, or refused (then nothing is held).
   * `address` (the client's) is charged when the ask starts a new series: each address may start only
   * so many a minute (`rate_limited`), so one client cannot spend the REST budget on cold symbols.
   * `asker`: the address the series' load takes turns by among waited-for loads (default `address`;
   * a cluster's leader gives the edge's client address here, charged there already).
   * `waiting`: called once the ask passed every check of this node (and, on an edge, the cluster's
   * ration) and waits for the series to load: a client may be told `loading` then, not before (a
   * refusal known at once, or after the cluster's ration, must not follow a promise of data).
   * `left`: aborted when the client goes (after its `release`): its wait is dropped, not kept until the
   * load ends (see waitFor).
   */
  want(id: SeriesId, address?: string, asker?: string, waiting?: () => void, left?: AbortSignal): Promise<DemandOutcome>;
  /** A one-off use (an HTTP read): the series counts as watched now. */
  touch(id: SeriesId): void;
  /** Lets go of one `want`; a series nobody holds goes idle and, after IDLE_SERIES_MS, away. */
  release(id: SeriesId): void;
}

/** What a wait whose client left comes to (nobody reads it). */
export const LEFT: DemandOutcome = { ok: false, code: 'series_capacity', message: 'the client went before its series was live' };

/**
 * A wait for a series' load among its `waiters`, taken out when `left` aborts first. Each kept its
 * client's closure (a socket's, or an HTTP request's) until the load ended: a review found them piling
 * up behind a load that never ended (a REST ban), at a client's request rate.
 */
export function waitFor(waiters: Array<(o: DemandOutcome) => void>, left?: AbortSignal): Promise<DemandOutcome> {
  if (left?.aborted) return Promise.resolve(LEFT);
  return new Promise((resolve) => {
    waiters.push(resolve);
    left?.addEventListener(
      'abort',
      () => {
        const i = waiters.indexOf(resolve);
        if (i >= 0) waiters.splice(i, 1);
        resolve(LEFT);
      },
      { once: true },
    );
  });
}
