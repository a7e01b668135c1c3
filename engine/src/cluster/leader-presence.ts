import type { Redis } from 'ioredis';
import type { SeriesStatus, UpstreamState } from '../broadcast/hub.ts';
import { parseDemandMember } from './demand-member.ts';

/** A leader missing this long at least is absent: a failover (a lease's TTL and a takeover) takes a few seconds. */
export const NO_LEADER_GRACE_MS = 10_000;

export interface LeaderPresenceConfig {
  redis: Redis;
  /** The lease key: it exists while an ingest node leads. */
  leaseKey: string;
  /** The leader's upstream state (leader-upstream.ts). */
  upstreamKey: string;
  /** The series whose stream is silent or whose connection is down on the leader (leader-upstream.ts). */
  seriesStatusKey?: string;
  /** A leader missing for longer than this is absent (a failover's gap, a few seconds, is not). */
  graceMs: number;
  /** How often the lease is looked at (ms). Default 1000. */
  everyMs?: number;
  now?: () => number;
}

/**
 * Whether an ingest node leads, as an edge sees it: the lease key exists. An edge with no leader still
 * serves what Redis has, but nothing new is written: its clients are told `stale` rather than `live`,
 * and /health says so. A Redis that does not answer counts as no leader seen. Read with it, the
 * leader's upstream state (what its connection to the exchange is doing), which clients are told.
 */
export class LeaderPresence {
  private lastSeenAt: number;
  private leaderUpstream: UpstreamState | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private looking = false;
  private seriesText: string | undefined;
  private seriesList: readonly SeriesStatus[] = [];
  /** The lease was read without the leader's upstream state while no leader was present (see look). */
  private bareLease = false;

  constructor(private readonly cfg: LeaderPresenceConfig) {
    // The process's own clock: a wall clock stepped back kept a dead leader present for the step's length.
    this.now = cfg.now ?? (() => performance.now());
    // Counted from the start: a new edge gives a leader the grace to appear.
    this.lastSeenAt = this.now();
    this.timer = setInterval(this.look, cfg.everyMs ?? 1000);
    this.timer.unref();
    this.look();
  }

  private readonly look = (): void => {
    // One at a time: a hung Redis answered none, and each second queued another behind them.
    if (this.looking) return;
    this.looking = true;
    const keys = [this.cfg.leaseKey, this.cfg.upstreamKey, ...(this.cfg.seriesStatusKey ? [this.cfg.seriesStatusKey] : [])];
    this.cfg.redis.mget(...keys).finally(() => (this.looking = false)).then(
      ([lease, upstream, series]) => {
        if (lease === null) return void (this.bareLease = false);
        const said = upstream === 'live' || upstream === 'stale' || upstream === 'reconnecting' ? upstream : undefined;
        // A leader back after an absence writes its state a round trip after it took the lease
        // (ingest-node.ts, on leader$), the last one's long expired: read in between, clients were
        // told `live` for a look, then its own state (stale, live, stale). Not present until the next look.
        if (said === undefined && !this.present && !this.bareLease) return void (this.bareLease = true);
        this.bareLease = false;
        this.lastSeenAt = this.now();
        // Anything else (a leader of an older version writes none) leaves the lease to speak.
        this.leaderUpstream = said;
        if (series !== (this.seriesText ?? null)) this.seriesList = parseSeriesStatus((this.seriesText = series ?? undefined));
      },
      () => undefined,
    );
  };

  /** The series whose own stream is silent or whose connection is down on the leader, while a leader is present. */
  get seriesStatus(): readonly SeriesStatus[] {
    return this.present ? this.seriesList : [];
  }

  /** The leader's upstream state as it last wrote it, while a leader is present; undefined if it wrote none. */
  get upstream(): UpstreamState | undefined {
    return this.present ? this.leaderUpstream : undefined;
  }

  /** How long ago a leader was last seen (ms; up to `everyMs` while one leads). */
  lastSeenMsAgo(): number {
    return this.now() - this.lastSeenAt;
  }

  /** False once no leader was seen for longer than the grace. */
  get present(): boolean {
    return this.now() - this.lastSeenAt <= this.cfg.graceMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Most series taken from the leader's list (a few connections' worth: the rest are ignored). */
const MAX_STATUS_SERIES = 8192;

/** The leader's space-separated `state:key` entries, each validated (one that cannot be a series' status is skipped). */
export function parseSeriesStatus(text: string | undefined): SeriesStatus[] {
  const out: SeriesStatus[] = [];
  for (const entry of text?.split(' ', MAX_STATUS_SERIES) ?? []) {
    const i = entry.indexOf(':');
    const state = entry.slice(0, i);
    if (state !== 'stale' && state !== 'reconnecting') continue;
    const id = parseDemandMember(entry.slice(i + 1));
    if (id) out.push({ id, state });
  }
  return out;
}
