import { randomBytes } from 'node:crypto';
import { type Redis, ReplyError } from 'ioredis';
import { BehaviorSubject, distinctUntilChanged, map, type Observable } from 'rxjs';
import type { LeaseKeys } from './cluster-keys.ts';
import { ACQUIRE_LUA, RELEASE_LUA, RENEW_LUA } from './cluster-scripts.ts';
// The reason shows in /health (lastStepDown): never the Redis host, port or URL.
import { redisErrorText } from '../store/redis-error-text.ts';

export interface LeaderLeaseConfig {
  redis: Redis;
  keys: LeaseKeys;
  nodeId: string;
  /** How long a lease lives without renewal (default 3000 ms): a dead leader is replaced after at most this. */
  ttlMs?: number;
  /** Renewal (and, for standbys, retry) period (default ttlMs / 3: renewed well before expiry). */
  renewEveryMs?: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
  /** Whether this node, standing by, may try for the lease now (default: always; see UpstreamHandover.mayLead). */
  mayLead?: () => boolean;
}

export interface Leadership {
  readonly leader: boolean;
  /** The term (from INCR) this node leads in; undefined while standing by. */
  readonly term?: number;
  /** The lease value that fences this node's writes. */
  readonly token?: string;
}

/**
 * Lease election on one Redis key: `SET lease token NX PX ttl` wins it, and the term is numbered one
 * above the stored one (in one script, above every term this node has seen: see ACQUIRE_LUA), a script renews it only while it still holds our token (every ttl/3), and standbys retry on
 * the same period. A renewal that finds another token, or that cannot reach Redis before the lease
 * would have expired, steps this node down; the fenced write script is what actually keeps a stale
 * leader (paused past its lease) from writing. No Redlock: one Redis is the authority.
 */
export class LeaderLease {
  private readonly stateSubject = new BehaviorSubject<Leadership>({ leader: false });
  readonly leadership$: Observable<Leadership> = this.stateSubject.asObservable();
  readonly leader$: Observable<boolean> = this.leadership$.pipe(
    map((l) => l.leader),
    distinctUntilChanged(),
  );
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Steps down when no renewal came back before the lease could have expired (a Redis that hangs answers nothing, fails nothing). */
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastRenewedAt = 0;
  /** After a hand-over, no try to take the lease before this (ms). */
  private holdOffUntil = 0;
  /**
   * The token of an acquire that failed without an answer (timed out): Redis may run it late and hold
   * a lease nobody knows it has (nobody led for a whole TTL after Redis came back from a hang, an
   * attacker-style probe). The next try gives that lease back first.
   */
  private unanswered: string | undefined;
  /** The highest term this node has led or seen: the next it leads is numbered above it. */
  private highestTerm = 0;
  /** The same, for /metrics: its rise is a leader change. */
  get termSeen(): number {
    return this.highestTerm;
  }
  /** Times this node stepped down, and why the last time (shown in /health). */
  stepDowns = 0;
  lastStepDown: string | undefined;
  /**
   * What Redis answered this standby's last try to take the lease, while it refuses them (a script
   * error, a Redis out of memory): undefined while tries are answered, or Redis is away (RedisWatch
   * says that). A standby never took a dead leader's lease without a word (a Redis-fault review).
   */
  acquireRefused: string | undefined;
  private refusedLoggedAt = -Infinity;

  constructor(private readonly cfg: LeaderLeaseConfig) {
    this.ttlMs = cfg.ttlMs ?? 3000;
    this.renewEveryMs = cfg.renewEveryMs ?? Math.floor(this.ttlMs / 3);
    if (!(this.ttlMs >= 100) || !(this.renewEveryMs > 0 && this.renewEveryMs < this.ttlMs)) throw new TypeError('LeaderLease: ttlMs >= 100 and 0 < renewEveryMs < ttlMs required');
  }

  get state(): Leadership {
    return this.stateSubject.value;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /**
   * Gives the lead away: steps down, releases the lease and does not try to take it again for
   * `holdOffMs` (another node takes it meanwhile; if none does, this one takes it back after).
   */
  handOver(reason: string, holdOffMs: number): void {
    const s = this.state;
    if (!s.leader) return;
    this.holdOffUntil = performance.now() + holdOffMs;
    this.stepDown(reason);
    this.cfg.redis.eval(RELEASE_LUA, 1, this.cfg.keys.lease, s.token!).catch(() => undefined);
  }

  /** Steps down now (a fenced write was refused): standby again, retrying like any standby. */
  stepDown(reason: string): void {
    if (!this.state.leader) return;
    clearTimeout(this.watchdog);
    this.cfg.log?.('warn', `leadership lost: ${reason}`);
    this.stepDowns++;
    this.lastStepDown = reason;
    this.stateSubject.next({ leader: false });
  }

  /**
   * The next tick `renewEveryMs` after `from`: the start of the tick that ends here (at once if it took
   * longer). Counted from its end, each renewal started a round trip later than the one before, and a
   * steady round trip of 30 % of the TTL (450 ms at 1.5 s, 900 ms at 3 s) stepped the only node down
   * every other renewal, though each reached Redis well within the lease (the watchdog counts from a
   * renewal's start).
   */
  private schedule(from = performance.now()): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, from + this.renewEveryMs - performance.now()));
  }

  /**
   * The lease (set or renewed at `at`) holds until at + ttl at the earliest: this node stops claiming
   * it a quarter of a renewal period before, unless a renewal comes back first (one sent when a stall
   * of this process ends usually does). Two nodes said `"leader": true` for 37 s while the leader's
   * connection to Redis was cut without an error (an attacker-style probe).
   */
  private renewed(at: number): void {
    this.lastRenewedAt = at;
    clearTimeout(this.watchdog);
    const deadline = at + this.ttlMs - Math.ceil(this.renewEveryMs / 4);
    this.watchdog = setTimeout(() => {
      const { token } = this.state;
      this.stepDown(`redis did not answer a renewal for ${Math.round(performance.now() - at)} ms (the lease may have expired)`);
      // Still ours, maybe (Redis slow, not gone): given back, so no node waits out its TTL. An acquire
      // answered late (a CLIENT PAUSE) left the cluster without a leader for a TTL (a Redis-fault review).
      if (token) this.cfg.redis.eval(RELEASE_LUA, 1, this.cfg.keys.lease, token).catch(() => undefined);
    }, Math.max(0, deadline - performance.now()));
    this.watchdog.unref();
  }

  private async tick(): Promise<void> {
    const { redis, keys, nodeId } = this.cfg;
    const s = this.state;
    const tickedAt = performance.now();
    try {
      if (s.leader) {
        const startedAt = performance.now();
        const ok = (await redis.eval(RENEW_LUA, 1, keys.lease, s.token!, String(this.ttlMs))) as number;
        if (this.stopped) return;
        if (this.state.token !== s.token) {
          // Stepped down while the renewal hung: a lease renewed after all goes back, so another node leads at once.
          if (ok === 1) await redis.eval(RELEASE_LUA, 1, keys.lease, s.token!).catch(() => undefined);
        } else if (ok === 1) this.renewed(startedAt);
        else if (ok === -1) this.stepDown(this.lastRenewedAt + this.ttlMs <= performance.now() ? 'the lease expired before a renewal reached redis' : 'the lease is gone from Redis (its data lost or flushed?)');
        else if (ok === -2) this.stepDown('the lease key holds something no node wrote (not a string): the next try takes it over');
        else this.stepDown('the lease is held by another node');
      } else if (this.unanswered || (performance.now() >= this.holdOffUntil && (this.cfg.mayLead?.() ?? true))) {
        // An acquire unanswered is given back first, whatever comes next (else a lease this node won
        // without hearing it sat unused for a TTL while it held off).
        if (this.unanswered) {
          await redis.eval(RELEASE_LUA, 1, keys.lease, this.unanswered);
          this.unanswered = undefined;
          if (performance.now() < this.holdOffUntil || !(this.cfg.mayLead?.() ?? true)) return this.schedule();
        }
        const token = `${nodeId}:${randomBytes(8).toString('hex')}`;
        const startedAt = performance.now();
        this.unanswered = token;
        const [won, term] = (await redis.eval(ACQUIRE_LUA, 2, keys.lease, keys.term, token, String(this.ttlMs), String(this.highestTerm))) as [number, number];
        this.unanswered = undefined;
        if (this.acquireRefused !== undefined) {
          this.acquireRefused = undefined;
          this.cfg.log?.('info', 'redis takes the lease tries again');
        }
        this.highestTerm = Math.max(this.highestTerm, term);
        if (this.stopped) {
          if (won) await redis.eval(RELEASE_LUA, 1, keys.lease, token).catch(() => undefined);
          return;
        }
        if (won === 1) {
          this.renewed(startedAt);
          this.cfg.log?.('info', `leading (term ${term})`);
          this.stateSubject.next({ leader: true, term, token });
        }
      }
    } catch (e) {
      // Unreachable: we cannot know whether the lease still holds, so stop claiming it before it could have expired.
      if (this.state.leader && performance.now() - this.lastRenewedAt > this.ttlMs - this.renewEveryMs) this.stepDown(`redis unreachable (${redisErrorText(e)})`);
      else if (!s.leader && e instanceof ReplyError) this.refused(redisErrorText(e));
      // Away, not refusing: RedisWatch says that (a refusal kept here read beside it as if still true).
      else if (!s.leader) this.acquireRefused = undefined;
    }
    this.schedule(tickedAt);
  }

  /** A try to take the lease that Redis answered with an error: said at once, then at most once a minute while it goes on. */
  private refused(reason: string): void {
    const changed = reason !== this.acquireRefused;
    this.acquireRefused = reason;
    const now = performance.now();
    if (!changed && now - this.refusedLoggedAt < 60_000) return;
    this.refusedLoggedAt = now;
    this.cfg.log?.('warn', `redis refuses this node's tries to take the lease (${reason}): no leader can be elected while it does`);
  }

  /** Stops renewing and retrying; gives the lease up if it is still ours, so a standby leads at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    const s = this.state;
    if (s.leader) {
      this.stateSubject.next({ leader: false });
      await this.cfg.redis.eval(RELEASE_LUA, 1, this.cfg.keys.lease, s.token!).catch(() => undefined);
    }
    this.stateSubject.complete();
  }
}
