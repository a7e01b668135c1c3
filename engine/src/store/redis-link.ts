import type { Redis } from 'ioredis';
import { quitRedis } from './quit-redis.ts';
import { redisErrorText } from './redis-error-text.ts';

export type StoreLog = (level: 'info' | 'warn' | 'error', msg: string) => void;

/** What RedisLink asks of the store around it: only from Redis events and timers, never while it is built. */
export interface RedisLinkHooks {
  /** Bar writes waiting for Redis (told in the log lines). */
  pendingWrites(): number;
  /** Whether a flush is under way (the heartbeat then stays quiet). */
  flushing(): boolean;
  /** Usable again after an outage: every hot window is queued to be written again. */
  rewriteWindows(): void;
  /** Usable, or answering again: the pending writes may go. */
  wake(): void;
  /** Fenced out: every pending write is dropped (nothing will be written again). */
  dropPending(): void;
}

/**
 * What a Redis bar store knows of its connection: usable (connected, the URL's database selected),
 * hung (a command timed out: one PING at a time asks whether Redis answers again), or refused for
 * good (a database Redis will not select, or the fence lost). Its state is read by the store's other
 * parts and changed only here.
 */
export class RedisLink {
  /** Connected, and the URL's database selected. */
  private reachable = false;
  /** A command timed out and nothing has answered since (a stopped or overloaded server). */
  hung = false;
  /** The URL's database cannot be selected: nothing is read or written again. */
  refused: string | undefined;
  everReady = false;
  lastError: string | undefined;
  closed = false;
  /**
   * Restores wait for the first connection until this moment only: a Redis down at start then costs
   * one connect timeout in all, not one per series (4 at a time, 3 s each: hours for the universe).
   */
  readonly connectDeadline: number;
  /** "Starts from the exchange alone" is logged once per outage, not once per series. */
  private aloneLogged = false;
  private readonly usableWaiters = new Set<() => void>();
  /** While hung, one PING at a time asks whether Redis answers again (batches would pile up in the socket). */
  private probing = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly cfg: { db: number; log: StoreLog; connectTimeoutMs: number; commandTimeoutMs: number },
    private readonly hooks: RedisLinkHooks,
  ) {
    const { db, log } = cfg;
    this.connectDeadline = Date.now() + cfg.connectTimeoutMs;
    // ioredis selects the URL's database on connect but only reports a refusal as an event, then runs
    // commands in database 0: select it again here and write nothing until that succeeds.
    redis.on('ready', () => {
      redis.select(db).then(
        () => {
          if (this.closed || this.refused) return;
          this.answered();
          this.usable();
        },
        (e: unknown) => {
          const text = redisErrorText(e);
          if (!/DB index|invalid DB|SELECT is not allowed/i.test(text)) return this.down(e as Error);
          this.refused = `database ${db} cannot be selected (${text})`;
          this.lastError = this.refused;
          this.reachable = false;
          log('error', `redis ${this.refused}: nothing is written to Redis`);
          redis.disconnect();
        },
      );
    });
    redis.on('error', this.down);
    redis.on('close', () => this.down());
    // Finds a hang when nothing is being written, too.
    this.heartbeat = setInterval(() => {
      if (this.ok() && !hooks.flushing()) redis.ping().then(this.answered, this.failed);
    }, Math.max(1000, cfg.commandTimeoutMs));
    this.heartbeat.unref();
  }

  private usable(): void {
    this.reachable = true;
    this.aloneLogged = false;
    for (const w of this.usableWaiters) w();
    this.usableWaiters.clear();
    if (this.everReady) {
      // Redis may have come back empty (restarted without persistence): rewrite every hot window,
      // not only what was pending. Upserts are idempotent, so a Redis that kept its data loses nothing.
      this.hooks.rewriteWindows();
      this.cfg.log('info', `redis reachable again: catching up ${this.hooks.pendingWrites()} bar writes`);
    }
    this.everReady = true;
    this.hooks.wake();
  }

  private readonly down = (err?: Error): void => {
    if (err) this.lastError = redisErrorText(err);
    if (this.reachable && !this.closed && !this.refused) this.cfg.log('warn', `redis unreachable (${this.lastError ?? 'connection closed'}): serving from memory, writes queued`);
    this.reachable = false;
  };

  /** Every failed command passes here: a timeout means Redis is hung (the connection looks open). */
  readonly failed = (e: unknown): void => {
    this.lastError = redisErrorText(e);
    if (/timed out/i.test(this.lastError) && !this.hung) {
      this.hung = true;
      if (!this.closed) this.cfg.log('warn', `redis not answering (${this.lastError}): serving from memory, writes queued`);
      this.probe();
    }
  };

  /** A command was answered: Redis is not hung (any more). */
  readonly answered = (): void => {
    if (!this.hung) return;
    this.hung = false;
    this.aloneLogged = false;
    if (!this.closed) this.cfg.log('info', `redis answering again: catching up ${this.hooks.pendingWrites()} bar writes`);
    this.hooks.wake();
  };

  ok(): boolean {
    return this.reachable && !this.hung && !this.refused;
  }

  /** Whether a write was refused by the fence (another holds the namespace now): then nothing is read or written again. */
  readonly fencedOut = (e: unknown): boolean => {
    if (!/^FENCED\b/.test(redisErrorText(e))) return false;
    if (this.refused) return true;
    this.refused = 'another holder took its namespace (the fence key holds another token)';
    this.lastError = this.refused;
    this.cfg.log('error', `redis: ${this.refused}: nothing more is written to it or read from it; serving from memory (${this.hooks.pendingWrites()} pending bar writes dropped)`);
    this.hooks.dropPending();
    this.redis.disconnect();
    return true;
  };

  probe(): void {
    if (this.probing || this.closed || !this.reachable) return;
    this.probing = true;
    this.redis.ping().then(
      () => {
        this.probing = false;
        this.answered();
      },
      (e: unknown) => {
        this.failed(e);
        // A refused connection fails at once: wait before asking again.
        setTimeout(() => {
          this.probing = false;
          if (this.hung) this.probe();
        }, this.cfg.commandTimeoutMs).unref();
      },
    );
  }

  /** Resolves whether Redis is usable within `timeoutMs` (at once when it is, or cannot be soon). */
  waitReady(timeoutMs: number): Promise<boolean> {
    return this.ok()
      ? Promise.resolve(true)
      : this.refused || this.hung || timeoutMs <= 0
        ? Promise.resolve(false)
        : new Promise<boolean>((resolve) => {
            const t = setTimeout(() => {
              this.usableWaiters.delete(onReady);
              resolve(false);
            }, timeoutMs);
            const onReady = () => {
              clearTimeout(t);
              resolve(true);
            };
            this.usableWaiters.add(onReady);
          });
  }

  /** Logs `msg` (that series start from the exchange alone) once per outage. */
  warnAlone(msg: string): void {
    if (!this.aloneLogged) this.cfg.log('warn', msg);
    this.aloneLogged = true;
  }

  /** Stops the heartbeat and quits Redis (or cuts it: see quitRedis). */
  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    return quitRedis(this.redis);
  }
}
