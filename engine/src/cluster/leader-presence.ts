import type { Redis } from 'ioredis';

/** A leader missing this long at least is absent: a failover (a lease's TTL and a takeover) takes a few seconds. */
export const NO_LEADER_GRACE_MS = 10_000;

export interface LeaderPresenceConfig {
  redis: Redis;
  /** The lease key: it exists while an ingest node leads. */
  leaseKey: string;
  /** A leader missing for longer than this is absent (a failover's gap, a few seconds, is not). */
  graceMs: number;
  /** How often the lease is looked at (ms). Default 1000. */
  everyMs?: number;
  now?: () => number;
}

/**
 * Whether an ingest node leads, as an edge sees it: the lease key exists. An edge with no leader still
 * serves what Redis has, but nothing new is written: its clients are told `stale` rather than `live`,
 * and /health says so. A Redis that does not answer counts as no leader seen.
 */
export class LeaderPresence {
  private lastSeenAt: number;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly cfg: LeaderPresenceConfig) {
    this.now = cfg.now ?? Date.now;
    // Counted from the start: a new edge gives a leader the grace to appear.
    this.lastSeenAt = this.now();
    this.timer = setInterval(this.look, cfg.everyMs ?? 1000);
    this.timer.unref();
    this.look();
  }

  private readonly look = (): void => {
    this.cfg.redis.exists(this.cfg.leaseKey).then(
      (n) => {
        if (n > 0) this.lastSeenAt = this.now();
      },
      () => undefined,
    );
  };

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
