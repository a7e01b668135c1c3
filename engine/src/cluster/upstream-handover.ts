import type { Redis } from 'ioredis';
import type { UpstreamState } from '../broadcast/hub.ts';
import { INGEST_UPSTREAM_LUA } from './cluster-scripts.ts';
import type { Leadership } from './leader-lease.ts';

export interface UpstreamHandoverConfig {
  redis: Redis;
  /** The hash of every ingest node's upstream state (`cluster:ingest-upstream`). */
  key: string;
  /** The lease key: whether a node leads (a standby leaves a free lease to a live node: see mayLead). */
  leaseKey: string;
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
 *
 * Only to a node that is still saying so: one whose stamp moved since this node last looked (a
 * stopped or killed leader's last `live` stayed fresh for a few seconds, and its successor handed
 * the lead to it: nobody led for `afterMs`; a stopping node also removes its own state). And the
 * lease goes to that node: a standby whose own upstream is not live leaves the lease to one whose is
 * (`mayLead`), for `afterMs` at most (before, whichever standby asked first took it, and handed it on
 * again).
 */
export class UpstreamHandover {
  private state: UpstreamState = 'reconnecting';
  private notLiveSince: number;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly everyMs: number;
  private asking = false;
  /** Each other node's last `live` stamp seen (Redis's clock), and those whose stamp moved at the last look. */
  private readonly stamps = new Map<string, number>();
  private alive: string[] = [];
  /** Since when this standby leaves the free lease to a live node (see mayLead). */
  private deferringSince: number | undefined;
  /** Whether a node led at the last look. */
  private leaseHeld = true;

  constructor(private readonly cfg: UpstreamHandoverConfig) {
    // The process's own clock: a wall clock stepped forward handed over at once.
    this.now = cfg.now ?? (() => performance.now());
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
    (redis.eval(INGEST_UPSTREAM_LUA, 2, key, this.cfg.leaseKey, nodeId, this.state, String(3 * this.everyMs)) as Promise<[number, ...string[]]>).then(
      ([held, ...live]) => {
        this.asking = false;
        this.leaseHeld = held === 1;
        this.look(live);
        const notLiveMs = this.now() - this.notLiveSince;
        if (!lease.state.leader || this.state === 'live' || notLiveMs < afterMs || this.alive.length === 0) return;
        // The lease logs it and shows it in /health (lastStepDown).
        lease.handOver(`upstream ${this.state} for ${Math.round(notLiveMs / 1000)} s while ${this.alive[0]}'s is live: handing over`, afterMs);
      },
      () => {
        this.asking = false;
      },
    );
  }

  /** `live`: `node stamp` of the other nodes live lately (INGEST_UPSTREAM_LUA); those whose stamp moved are alive. */
  private look(live: readonly string[]): void {
    const alive: string[] = [];
    const seen = new Set<string>();
    for (const entry of live) {
      const [node, at] = entry.split(' ') as [string, string | undefined];
      const stamp = Number(at);
      seen.add(node);
      const before = this.stamps.get(node);
      this.stamps.set(node, stamp);
      if (before !== undefined && stamp > before) alive.push(node);
    }
    // Bounded by the ingest nodes saying their state.
    for (const node of this.stamps.keys()) if (!seen.has(node)) this.stamps.delete(node);
    this.alive = alive;
  }

  /**
   * Whether this node, standing by, may take the lease now: not while its own upstream is not live
   * and another node's is (the lead is that one's), for `afterMs` at most, counted from when the lease
   * was seen free (a live node that cannot take it must not leave the cluster without a leader; counted
   * while another led, the wait was used up long before the lease came free).
   */
  mayLead(): boolean {
    if (this.state === 'live' || this.alive.length === 0 || this.leaseHeld) {
      this.deferringSince = undefined;
      return true;
    }
    this.deferringSince ??= this.now();
    return this.now() - this.deferringSince >= this.cfg.afterMs;
  }

  /** Stops saying its state, and removes it (bounded by `ms`): a stopped node's last `live` was taken for a live node. */
  async stop(ms = 500): Promise<void> {
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.cfg.redis.hdel(this.cfg.key, this.cfg.nodeId).catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
