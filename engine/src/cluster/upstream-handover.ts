import type { Redis } from 'ioredis';
import type { UpstreamState } from '../broadcast/hub.ts';
import { INGEST_UPSTREAM_LUA } from './cluster-scripts.ts';
import type { Leadership } from './leader-lease.ts';

export interface UpstreamHandoverConfig {
  redis: Redis;
  /** The hash of every ingest node's upstream state (`cluster:ingest-upstream`). */
  key: string;
  nodeId: string;
  lease: { readonly state: Leadership; handOver(reason: string, holdOffMs: number): void };
  /** UPSTREAM_HANDOVER_MS: a leader whose upstream is not live this long hands over to a node whose upstream is. */
  afterMs: number;
  /** How often each node says its state and the leader looks (ms; default 1000). */
  everyMs?: number;
  now?: () => number;
}

/**
 * A leader whose own connection to the exchange is down (or silent) hands the lead to an ingest node
 * whose connection is live: before, the leader kept its lease while a healthy standby sat idle, and
 * clients got nothing for as long as its own route to the exchange was cut (53 s in an attacker-style
 * probe). Every ingest node writes its upstream state each `everyMs` into one hash, stamped with
 * Redis's clock (INGEST_UPSTREAM_LUA); the leader, not live for `afterMs`, hands over to a node live
 * within the last three periods, then does not take the lease back for `afterMs` (no ping-pong
 * between two nodes whose connections both come and go).
 */
export class UpstreamHandover {
  private state: UpstreamState = 'reconnecting';
  private notLiveSince: number;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly everyMs: number;
  private asking = false;

  constructor(private readonly cfg: UpstreamHandoverConfig) {
    this.now = cfg.now ?? Date.now;
    this.everyMs = cfg.everyMs ?? 1000;
    // Counted from the start: a leader whose upstream never came up hands over too.
    this.notLiveSince = this.now();
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  set(state: UpstreamState): void {
    if (state === this.state) return;
    if (this.state === 'live') this.notLiveSince = this.now();
    this.state = state;
  }

  private tick(): void {
    if (this.asking) return;
    this.asking = true;
    const { redis, key, nodeId, lease, afterMs } = this.cfg;
    (redis.eval(INGEST_UPSTREAM_LUA, 1, key, nodeId, this.state, String(3 * this.everyMs)) as Promise<string[]>).then(
      (live) => {
        this.asking = false;
        const notLiveMs = this.now() - this.notLiveSince;
        if (!lease.state.leader || this.state === 'live' || notLiveMs < afterMs || live.length === 0) return;
        // The lease logs it and shows it in /health (lastStepDown).
        lease.handOver(`upstream ${this.state} for ${Math.round(notLiveMs / 1000)} s while ${live[0]}'s is live: handing over`, afterMs);
      },
      () => {
        this.asking = false;
      },
    );
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
