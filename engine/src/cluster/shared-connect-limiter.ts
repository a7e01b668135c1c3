import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ConnectLimiter } from '../sources/connect-limiter.ts';
import { sleep } from '../sources/rest-gate.ts';
import { answerWithin } from './answer-within.ts';
import type { LeaseKeys } from './cluster-keys.ts';
import { CONNECT_HOLD_LUA, CONNECT_TAKE_LUA } from './cluster-scripts.ts';

export interface SharedConnectLimiterConfig {
  redis: Redis;
  keys: Pick<LeaseKeys, 'connectAttempts' | 'connectHold'>;
  /** Attempts per window for every ingest node together (default 250, as a process's). */
  max?: number;
  /** The window (ms; default 5 minutes). */
  windowMs?: number;
  /** How long a dial waits for Redis's answer before it counts on this node's own window (ms; default 2000). */
  timeoutMs?: number;
  now?: () => number;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

/**
 * A ConnectLimiter whose window is the cluster's: every ingest node dials the exchange (a standby
 * keeps its own upstream, hot), and two on one host, as the compose file runs them, could each make
 * 250 attempts in 5 minutes where Binance allows 300 per IP, then bans. Each dial takes its attempt
 * from one window in Redis (CONNECT_TAKE_LUA: the same first-dial share and re-dials' reserve), and a
 * Retry-After one node is refused with holds every node (CONNECT_HOLD_LUA). Every attempt is also
 * counted here, in this node's own window, which holds too: a Redis that does not answer within
 * `timeoutMs` (or refuses) leaves the node on it (the ConnectLimiter it is, with what it dialled
 * already), counted in `fallbacks` and logged once per outage, so dialing never waits on Redis for
 * good. Meanwhile each node counts only its own (two could make twice the limit, as before); an
 * answer that comes late still takes its attempt in Redis (counted twice: the safe way). `recent`:
 * this node's own attempts.
 */
export class SharedConnectLimiter extends ConnectLimiter {
  /** Names this node's attempts in the shared window (a NODE_ID may be given twice by mistake). */
  private readonly id = randomUUID();
  private seq = 0;
  private alone = false;
  private unanswered = 0;
  /** The connection was ready once: later, a Redis away refuses at once (no dial waits for it). */
  private everReady: boolean;
  /** The one wait for a connection still opening, shared by the dials made meanwhile. */
  private opening: Promise<void> | undefined;

  constructor(private readonly cfg: SharedConnectLimiterConfig) {
    super(cfg.max, cfg.windowMs, cfg.now);
    this.everReady = cfg.redis.status === 'ready';
  }

  /** Dials that counted on this node's own window (Redis did not answer in time). */
  get fallbacks(): number {
    return this.unanswered;
  }

  override async acquire(signal?: AbortSignal, first = false): Promise<void> {
    const max = this.allowance(first);
    for (;;) {
      signal?.throwIfAborted();
      // Held here, or this node alone at the limit (its dials while Redis was away count too).
      const wait = this.waitAt(this.now(), max);
      if (wait > 0) {
        await sleep(wait, signal);
        continue;
      }
      const timeoutMs = this.cfg.timeoutMs ?? 2000;
      const answer = await answerWithin(() => this.take(max, timeoutMs), timeoutMs, undefined);
      if (!answer) return this.onItsOwn(signal, first);
      if (this.alone) this.cfg.log?.('info', 'redis answers again: connection attempts to the exchange counted for the cluster again');
      this.alone = false;
      const [ms, held] = answer;
      if (ms === 0) {
        this.attempts.push(this.now());
        return;
      }
      // Another node's Retry-After: kept here too, so it holds should Redis go away meanwhile.
      if (held) super.holdFor(ms);
      else await sleep(ms, signal);
    }
  }

  /** Holds this node's dials and, through Redis, every other ingest node's. */
  override holdFor(ms: number): void {
    super.holdFor(ms);
    if (!(ms > 0)) return;
    // Not written (Redis away): this node holds still, the others learn it from their own refusal.
    this.cfg.redis.eval(CONNECT_HOLD_LUA, 1, this.cfg.keys.connectHold, Math.ceil(ms)).catch(() => undefined);
  }

  /** [0, 0] when the attempt is taken, [ms, 1] while held, [ms, 0] while the window is full. */
  private async take(max: number, timeoutMs: number): Promise<[number, number]> {
    const { redis, keys } = this.cfg;
    // The node's first dial comes while its connection is still opening (no offline queue: refused at
    // once), and went uncounted in the cluster's window: wait for it, within the same time.
    if (!this.everReady) {
      if (redis.status !== 'ready') await (this.opening ??= readyWithin(redis, timeoutMs).finally(() => (this.opening = undefined)));
      this.everReady = redis.status === 'ready';
    }
    const r = (await redis.eval(CONNECT_TAKE_LUA, 2, keys.connectAttempts, keys.connectHold, max, this.windowMs, `${this.id}:${++this.seq}`)) as [number, number];
    return [Number(r[0]), Number(r[1])];
  }

  private onItsOwn(signal: AbortSignal | undefined, first: boolean): Promise<void> {
    this.unanswered++;
    if (!this.alone) this.cfg.log?.('warn', "redis did not answer in time: this node counts its connection attempts to the exchange on its own until it does (the cluster's other ingest nodes may dial meanwhile)");
    this.alone = true;
    return super.acquire(signal, first);
  }
}

/** Resolves once a connection that is opening is ready, or after `ms`, or when that attempt fails (closed); at once if it is not opening. */
function readyWithin(redis: Redis, ms: number): Promise<void> {
  if (redis.status !== 'wait' && redis.status !== 'connecting' && redis.status !== 'connect') return Promise.resolve();
  if (redis.status === 'wait') redis.connect().catch(() => undefined); // lazyConnect: a command would open it, refused meanwhile
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
    redis.once('close', done);
  });
}
