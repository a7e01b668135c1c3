import type { Redis } from 'ioredis';
import { versionProblem } from '../store/check-redis-database.ts';

type Log = (level: 'info' | 'warn', message: string) => void;

/** Longest reason kept from a connection error (it goes into logs and /health). */
const MAX_REASON = 200;

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
  ) {
    redis.on('error', this.onError);
    redis.on('ready', this.onReady);
    // And once a minute: a policy set with CONFIG SET while connected.
    this.policyTimer = setInterval(() => this.redis.status === 'ready' && this.readPolicy(), 60_000);
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

  private readPolicy(): void {
    this.redis.info('memory').then(
      (text) => {
        // With no maxmemory set nothing is ever evicted, whatever the policy.
        const limited = Number(/^maxmemory:(\d+)/m.exec(text)?.[1] ?? '0') > 0;
        const policy = limited ? /^maxmemory_policy:(\S+)/m.exec(text)?.[1] : undefined;
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
