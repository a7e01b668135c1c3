import type { SeriesId } from '../domain/series-id.ts';

/**
 * Redis names of the cluster (issue 13). Series parts come from a validated SeriesId, so nothing a
 * client typed becomes a key. `candles:` is the same sorted set the single-process Redis store uses.
 */
export interface SeriesKeys {
  /** Sorted set of the series' bars scored by open time (members as in redis-bar-store). */
  readonly candles: string;
  /** Hash: epoch, offset, runid (the Redis instance the epoch belongs to). */
  readonly pos: string;
  /** List of the recent updates, `offset at member`, oldest first, bounded. */
  readonly hist: string;
  /** Pub/sub channel of the series' updates, `epoch offset member`. */
  readonly channel: string;
}

export function seriesKeys(id: SeriesId, prefix = ''): SeriesKeys {
  const s = `${id.symbol}:${id.interval}`;
  return { candles: `${prefix}candles:${s}`, pos: `${prefix}pos:${s}`, hist: `${prefix}hist:${s}`, channel: `${prefix}ch:${s}` };
}

export interface LeaseKeys {
  /** Holds the leader's token, with a TTL (the lease). */
  readonly lease: string;
  /** INCR'd by each new leader: its term. */
  readonly term: string;
  /** Channel on which edges nudge the leader about on-demand series (the wanted set says which). */
  readonly demand: string;
  /** Sorted set of on-demand series edges want (`SYMBOL:interval`), scored by their last touch (ms). */
  readonly wanted: string;
  /** Prefix of each wanted series' answer from the leader: `live`, or `refused <code> <message>`. */
  readonly served: string;
  /** The exchange's TRADING markets as the leader knows them (exchangeInfo-shaped JSON), for edges. */
  readonly markets: string;
}

export function leaseKeys(prefix = ''): LeaseKeys {
  return {
    lease: `${prefix}cluster:lease`,
    term: `${prefix}cluster:term`,
    demand: `${prefix}cluster:demand`,
    wanted: `${prefix}cluster:wanted`,
    served: `${prefix}cluster:served:`,
    markets: `${prefix}cluster:markets`,
  };
}
