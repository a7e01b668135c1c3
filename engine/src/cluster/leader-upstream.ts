import type { Redis } from 'ioredis';
import type { SeriesStatus, UpstreamState } from '../broadcast/hub.ts';
import type { LeaseKeys } from './cluster-keys.ts';
import { UPSTREAM_SET_LUA } from './cluster-scripts.ts';
import type { Leadership } from './leader-lease.ts';

/** The leader's word lives this long unless written again: a dead leader's soon goes with its lease. */
const UPSTREAM_TTL_MS = 5_000;

export interface LeaderUpstreamConfig {
  redis: Redis;
  keys: Pick<LeaseKeys, 'lease' | 'upstream' | 'seriesStatus'>;
  lease: { readonly state: Leadership };
  /** How often the state is written again while leading (ms; default 1000). */
  everyMs?: number;
}

/**
 * The leader's upstream state, for the clients of every edge: an edge has no upstream of its own, so
 * without it a chart said `live` while the leader's connection to the exchange was down and nothing
 * came (an edge knew only whether a leader held the lease). Written at each change and every
 * `everyMs` through a fenced script (only while the lease is ours), with a TTL; edges read it with
 * the lease (LeaderPresence).
 */
export class LeaderUpstream {
  private state: UpstreamState = 'reconnecting';
  /** The series whose own stream is silent or connection down, as written (sorted `state:key`, space-separated). */
  private series = '';
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly cfg: LeaderUpstreamConfig) {
    this.timer = setInterval(() => this.write(), cfg.everyMs ?? 1000);
    this.timer.unref();
  }

  set(state: UpstreamState): void {
    if (state === this.state) return;
    this.state = state;
    this.write();
  }

  /** The series whose own stream is silent or whose connection is down now (see Hub.setStatus): written at each change. */
  setSeriesStatus(list: readonly SeriesStatus[]): void {
    const series = list.map((s) => `${s.state}:${s.id.key}`).sort().join(' ');
    if (series === this.series) return;
    this.series = series;
    this.write();
  }

  /** Writes the state now (on taking the lead: edges read the last leader's, or none, until then). */
  write(): void {
    const { leader, token } = this.cfg.lease.state;
    if (!leader || !token) return;
    const { redis, keys } = this.cfg;
    // Lost: written again within everyMs (the TTL outlives a few).
    redis.eval(UPSTREAM_SET_LUA, 3, keys.lease, keys.upstream, keys.seriesStatus, token, this.state, String(UPSTREAM_TTL_MS), this.series).catch(() => undefined);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
