import type { Redis } from 'ioredis';
import type { UpstreamState } from '../broadcast/hub.ts';

/** A leader missing this long at least is absent: a failover (a lease's TTL and a takeover) takes a few seconds. */
export const NO_LEADER_GRACE_MS = 10_000;

export interface LeaderPresenceConfig {
  redis: Redis;
  /** The lease key: it exists while an ingest node leads. */
  leaseKey: string;
  /** The leader's upstream state (leader-upstream.ts). */
  upstreamKey: string;
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

  constructor(private readonly cfg: LeaderPresenceConfig) {
    this.now = cfg.now ?? Date.now;
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
    this.cfg.redis.mget(this.cfg.leaseKey, this.cfg.upstreamKey).finally(() => (this.looking = false)).then(
      ([lease, upstream]) => {
        if (lease === null) return;
        this.lastSeenAt = this.now();
        // Anything else (a leader of an older version writes none) leaves the lease to speak.
        this.leaderUpstream = upstream === 'live' || upstream === 'stale' || upstream === 'reconnecting' ? upstream : undefined;
      },
      () => undefined,
    );
  };

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
