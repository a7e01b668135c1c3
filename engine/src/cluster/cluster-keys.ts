import { InvalidNameError } from '../domain/errors.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { echo } from '../domain/echo.ts';

/**
 * Redis names of the cluster (issue 13). Series parts come from a validated SeriesId, so nothing a
 * client typed becomes a key. `candles:` is the same sorted set the single-process Redis store uses.
 */
export interface SeriesKeys {
  /** Sorted set of the series' bars scored by open time (members as in redis-bar-store). */
  readonly candles: string;
  /**
   * Hash: epoch, offset, runid (the Redis instance the epoch belongs to), the newest bar (nt, nm) and
   * the recent updates, `offset at member`, in a ring of hk slots (see cluster-scripts.ts).
   */
  readonly pos: string;
  /** Where the recent updates were kept before they moved into pos (a list): deleted by the next write. */
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
  /** The leader's upstream state for edges' clients (`live`, `stale`, `reconnecting`), with a TTL: see leader-upstream.ts. */
  readonly upstream: string;
  /** The series whose stream is silent or whose connection is down on the leader (space-separated `state:key`), with the same TTL: see leader-upstream.ts. */
  readonly seriesStatus: string;
  /** Hash: each ingest node's (NODE_ID) upstream state and when it wrote it, `state ms`: see upstream-handover.ts. */
  readonly ingestUpstream: string;
  /** Channel on which edges nudge the leader about on-demand series (the wanted set says which). */
  readonly demand: string;
  /** Sorted set of on-demand series edges want (`SYMBOL:interval`), scored by their last touch (ms). */
  readonly wanted: string;
  /** Prefix of each wanted series' answer from the leader: `live`, or `refused <code> <message>`. */
  readonly served: string;
  /** Channel on which the leader names each series it just answered (edges read the answer then, not at their next poll). */
  readonly answered: string;
  /** Prefix of each wanted series' holders: a sorted set of the edges (NODE_ID) holding it, scored by their touches. */
  readonly holders: string;
  /** The exchange's TRADING markets as the leader knows them (exchangeInfo-shaped JSON), for edges. */
  readonly markets: string;
  /** Channel on which edges ask the leader for bars older than Redis keeps (history-ask.ts). */
  readonly historyAsk: string;
  /** Prefix of each edge's channel (+ NODE_ID) on which the leader answers them. */
  readonly historyReply: string;
  /** Prefix of each client address's bucket of new on-demand series (+ the address), shared by edges. */
  readonly startRate: string;
  /** The same for new derived-series instances. */
  readonly instanceStartRate: string;
  /** Prefix of each client address's hash of open connections per edge (+ the address): see CONNECTIONS_SET_LUA. */
  readonly connections: string;
  /** Prefix of each edge's heartbeat (+ NODE_ID): its counts in `connections` and `variants` count while it lives. */
  readonly connectionsAlive: string;
  /** Prefix of each client address's hash of derived-series variants held per edge (+ address|series|definition): see VARIANTS_SET_LUA. */
  readonly variants: string;
  /** Sorted set of the bar series freed and still kept (`SYMBOL:interval`), scored by when (ms): see SERIES_FREE_LUA. */
  readonly freed: string;
  /** The same for derived-series instance logs (`label|SYMBOL:interval`): see INSTANCE_FREE_LUA. */
  readonly freedInstances: string;
  /**
   * Set of the bar series a leader keeps (held, or written, in its term) and has not freed: a new
   * leader frees those nobody wants any more (let go while no node led). See SERIES_FREE_LUA.
   */
  readonly kept: string;
  /** The same for derived-series instance logs: see INSTANCE_FREE_LUA. */
  readonly keptInstances: string;
  /** Sorted set of the ingest nodes' recent connection attempts to the exchange, scored by when (ms): see CONNECT_TAKE_LUA. */
  readonly connectAttempts: string;
  /** Set, with a TTL, while the exchange's Retry-After holds every ingest node's dials: see CONNECT_HOLD_LUA. */
  readonly connectHold: string;
}

export function leaseKeys(prefix = ''): LeaseKeys {
  return {
    lease: `${prefix}cluster:lease`,
    term: `${prefix}cluster:term`,
    upstream: `${prefix}cluster:upstream`,
    seriesStatus: `${prefix}cluster:series-status`,
    ingestUpstream: `${prefix}cluster:ingest-upstream`,
    demand: `${prefix}cluster:demand`,
    wanted: `${prefix}cluster:wanted`,
    served: `${prefix}cluster:served:`,
    answered: `${prefix}cluster:answered`,
    holders: `${prefix}cluster:holders:`,
    markets: `${prefix}cluster:markets`,
    historyAsk: `${prefix}cluster:history-ask`,
    historyReply: `${prefix}cluster:history-reply:`,
    startRate: `${prefix}cluster:start-rate:`,
    instanceStartRate: `${prefix}cluster:instance-start-rate:`,
    connections: `${prefix}cluster:connections:`,
    connectionsAlive: `${prefix}cluster:connections-alive:`,
    variants: `${prefix}cluster:variants:`,
    freed: `${prefix}cluster:freed`,
    freedInstances: `${prefix}cluster:freed-instances`,
    kept: `${prefix}cluster:kept`,
    keptInstances: `${prefix}cluster:kept-instances`,
    connectAttempts: `${prefix}cluster:connect-attempts`,
    connectHold: `${prefix}cluster:connect-hold`,
  };
}

/** The keys through which edges ask the leader for something and it answers (on-demand series, derived series instances). */
export type DemandKeys = Pick<LeaseKeys, 'demand' | 'wanted' | 'served' | 'answered' | 'holders'>;

/** Demand for derived-series instances: the same shape as on-demand series, with names of its own. */
export function instanceDemandKeys(prefix = ''): DemandKeys {
  return { demand: `${prefix}cluster:series-demand`, wanted: `${prefix}cluster:series-wanted`, served: `${prefix}cluster:series-served:`, answered: `${prefix}cluster:series-answered`, holders: `${prefix}cluster:series-holders:` };
}

/**
 * A derived series' label as the registry makes it (`rsi`, `rsi:period=21`, `ema-cross:fast=5;slow=30`),
 * restricted to what may become part of a Redis key: a definition name, then `key=value` pairs whose
 * values are numbers, booleans or plain words. Anything else is never computed in the cluster.
 */
const LABEL_RE = /^[a-z][a-z0-9-]{0,39}(?::[a-zA-Z][a-zA-Z0-9]{0,39}=[A-Za-z0-9._+-]{1,64}(?:;[a-zA-Z][a-zA-Z0-9]{0,39}=[A-Za-z0-9._+-]{1,64})*)?$/;
const MAX_LABEL = 300;

export function isValidInstanceLabel(label: string): boolean {
  return label.length <= MAX_LABEL && LABEL_RE.test(label);
}

/** `label|SYMBOL:interval`: one derived-series instance, as a member of the wanted set and in its keys. */
export function instanceMember(label: string, id: SeriesId): string {
  if (!isValidInstanceLabel(label)) {
    throw new InvalidNameError(`derived series '${echo(label, 60)}' cannot be computed in the cluster: parameter values must be numbers, booleans or plain words`, {
      info: { field: 'series', value: label.slice(0, 100) },
    });
  }
  return `${label}|${id.key}`;
}

/**
 * Redis names of one derived-series instance's log, the same shape as a bar series' (its points'
 * sorted set stands where the candles are): the leader writes them through the fenced path, edges
 * follow them as they follow bars. Throws InvalidNameError for a label that may not become a key.
 */
export function instanceKeys(label: string, id: SeriesId, prefix = ''): SeriesKeys {
  const s = instanceMember(label, id);
  return { candles: `${prefix}points:${s}`, pos: `${prefix}spos:${s}`, hist: `${prefix}shist:${s}`, channel: `${prefix}sch:${s}` };
}
