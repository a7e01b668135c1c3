import type { Redis } from 'ioredis';
import { versionProblem } from '../store/check-redis-database.ts';

type Log = (level: 'info' | 'warn', message: string) => void;

/** Longest reason kept from a connection error (it goes into logs and /health). */
const MAX_REASON = 200;

/** The share of its `maxmemory` past which Redis counts as nearly full (said in the log and /health). */
export const FULL_SHARE = 0.9;

/**
 * Says when a connection cannot reach Redis (once per outage, with the socket's reason) and when it
 * reaches it again. ioredis retries quietly: without this a node whose Redis is down or refuses it
 * (a wrong host, protected mode) looks idle, not broken, in its log and its /health.
 */
export class RedisWatch {
  private down: string | undefined;
  /** Set while a PING has gone unanswered for `hangAfterMs`: a Redis that hangs (or a cut that sends no reset) fails nothing. */
  private hung: string | undefined;
  private probing = false;
  private readonly probeTimer: NodeJS.Timeout | undefined;
  private readonly policyTimer: NodeJS.Timeout;

  /**
   * `hangAfterMs` (REDIS_COMMAND_TIMEOUT_MS): a PING, one at a time, every half of it, that goes
   * unanswered this long makes Redis count as hung until one is answered. A leader said `ok` and both
   * edges `reachable` through a 14 s `DEBUG SLEEP` (an attacker-style probe).
   */
  constructor(
    private readonly redis: Redis,
    private readonly log: Log,
    private readonly hangAfterMs?: number,
    /** The oldest major version this node works with (the cluster roles: 7), read at each (re)connect. */
    private readonly minMajor?: number,
    /** How often its memory and policy are read while connected (ms). */
    memoryEveryMs = 15_000,
  ) {
    redis.on('error', this.onError);
    redis.on('ready', this.onReady);
    // And while connected: a policy set with CONFIG SET, a Redis filling up.
    this.policyTimer = setInterval(() => this.redis.status === 'ready' && this.readPolicy(), memoryEveryMs);
    this.policyTimer.unref();
    if (hangAfterMs && hangAfterMs > 0) {
      this.probeTimer = setInterval(this.probe, Math.max(250, Math.floor(hangAfterMs / 2)));
      this.probeTimer.unref();
    }
  }

  /** Why Redis is unreachable (or hung) now, or undefined while it answers (or is not tried yet). */
  get error(): string | undefined {
    return this.down ?? this.hung;
  }

  private readonly probe = (): void => {
    if (this.probing || this.redis.status !== 'ready') return;
    this.probing = true;
    const limit = this.hangAfterMs!;
    const timer = setTimeout(() => {
      if (this.hung !== undefined) return;
      this.hung = `no answer to PING within ${limit} ms (hung?)`;
      this.log('warn', `redis at ${this.where()} does not answer: ${this.hung}`);
    }, limit);
    const settled = () => {
      clearTimeout(timer);
      this.probing = false;
      if (this.hung === undefined) return;
      this.hung = undefined;
      this.log('info', `redis at ${this.where()} answers again`);
    };
    this.redis.ping().then(settled, settled);
  };

  /** Resolves once the connection is ready (at once when it is). */
  ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.redis.once('ready', () => resolve()));
  }

  stop(): void {
    clearInterval(this.probeTimer);
    clearInterval(this.policyTimer);
    this.redis.off('error', this.onError);
    this.redis.off('ready', this.onReady);
  }

  private readonly onError = (e: Error): void => {
    if (this.down !== undefined) return;
    this.down = String(e.message).slice(0, MAX_REASON);
    this.log('warn', `redis unreachable at ${this.where()} (${this.down}); retrying`);
  };

  /**
   * Why Redis's `maxmemory-policy` endangers the cluster, while it does: with a `maxmemory` set, any
   * policy but `noeviction` lets Redis drop the engine's keys when it is full. `allkeys-*` took series' bars and positions
   * (a chart's history down to 1 bar), `volatile-*` the lease (the leader stepped down 4 times in 33
   * s): a Redis-fault review. Read at each (re)connect: a Redis replaced or reconfigured is read again.
   */
  get evictionWarning(): string | undefined {
    return this.policy === undefined || this.policy === 'noeviction' ? undefined : `redis's maxmemory-policy is ${this.policy}: when full it evicts the cluster's keys (history, positions, the lease); set it to noeviction`;
  }

  private policy: string | undefined;

  /**
   * Why Redis's memory endangers the cluster, while it does: past FULL_SHARE of its `maxmemory`. Full
   * (under `noeviction`) it refuses every write but the ones that keep the cluster led and its bars
   * going (those may pass the limit: they are capped): a cold symbol asked for waited a minute and was
   * refused as "not started in time", every node said `ok` and logged nothing (an operator's review).
   */
  get memoryWarning(): string | undefined {
    return this.full;
  }

  private full: string | undefined;

  /** What an operator must fix about this Redis (its policy, its memory), for /health's `warnings`. */
  get warnings(): string[] {
    return [this.evictionWarning, this.memoryWarning].filter((w): w is string => w !== undefined);
  }

  private readPolicy(): void {
    this.redis.info('memory').then(
      (text) => {
        const max = Number(/^maxmemory:(\d+)/m.exec(text)?.[1] ?? '0');
        const used = Number(/^used_memory:(\d+)/m.exec(text)?.[1] ?? '0');
        // With no maxmemory set nothing is ever evicted, whatever the policy.
        const policy = max > 0 ? /^maxmemory_policy:(\S+)/m.exec(text)?.[1] : undefined;
        const mb = (n: number) => (n / 1048576).toFixed(1);
        const full = max > 0 && used >= FULL_SHARE * max ? `redis at ${this.where()} holds ${mb(used)} of its maxmemory ${mb(max)} MB: when full it refuses what clients start (cold symbols, derived series) and evicts or refuses the rest by its policy; raise maxmemory` : undefined;
        if ((full === undefined) !== (this.full === undefined)) this.log(full ? 'warn' : 'info', full ?? `redis at ${this.where()} is below ${FULL_SHARE * 100} % of its maxmemory again`);
        this.full = full;
        if (policy === this.policy) return;
        this.policy = policy;
        const warning = this.evictionWarning;
        if (warning) this.log('warn', warning);
      },
      () => undefined, // INFO refused (an ACL): nothing known
    );
  }

  /**
   * Why this node cannot work with the Redis it reached (too old), while it cannot. The start refuses
   * one (check-redis-database.ts), but a node started before Redis answered never asked: on a Redis 6
   * every lease and write script failed to compile, and nothing said why.
   */
  get versionProblem(): string | undefined {
    return this.tooOld;
  }

  private tooOld: string | undefined;

  private readVersion(): void {
    const min = this.minMajor;
    if (min === undefined) return;
    this.redis.info('server').then(
      (text) => {
        const found = versionProblem(text, min)?.found;
        const problem = found && `redis at ${this.where()} is ${found}; the cluster roles need Redis ${min}.0 or newer (their scripts use Redis ${min}'s flags): upgrade it`;
        if (problem === this.tooOld) return;
        this.tooOld = problem;
        this.log('warn', problem ?? `redis at ${this.where()} is Redis ${min} or newer again`);
      },
      () => undefined, // INFO refused (an ACL): nothing known
    );
  }

  private readonly onReady = (): void => {
    this.readPolicy();
    this.readVersion();
    if (this.down === undefined) return;
    this.down = undefined;
    this.log('info', `redis reachable at ${this.where()}`);
  };

  /** Host, port and database: never the URL, which may hold a password. */
  private where(): string {
    const o = this.redis.options;
    return o.path ?? `${o.host}:${o.port}/${o.db ?? 0}`;
  }
}
