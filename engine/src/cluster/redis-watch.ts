import type { Redis } from 'ioredis';

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

  constructor(
    private readonly redis: Redis,
    private readonly log: Log,
  ) {
    redis.on('error', this.onError);
    redis.on('ready', this.onReady);
  }

  /** Why Redis is unreachable now, or undefined while it is reachable (or not tried yet). */
  get error(): string | undefined {
    return this.down;
  }

  /** Resolves once the connection is ready (at once when it is). */
  ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.redis.once('ready', () => resolve()));
  }

  stop(): void {
    this.redis.off('error', this.onError);
    this.redis.off('ready', this.onReady);
  }

  private readonly onError = (e: Error): void => {
    if (this.down !== undefined) return;
    this.down = String(e.message).slice(0, MAX_REASON);
    this.log('warn', `redis unreachable at ${this.where()} (${this.down}); retrying`);
  };

  private readonly onReady = (): void => {
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
