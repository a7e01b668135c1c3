import type { Redis } from 'ioredis';

type Log = (level: 'info' | 'warn', message: string) => void;

/** A connection's PINGs unanswered for this many times `hangAfterMs` make it reconnect. */
export const RECONNECT_AFTER_HANGS = 2;

/**
 * Reconnects one Redis connection whose PINGs go unanswered: a path that went silent (a NAT or
 * firewall that drops a flow, a proxy that stops forwarding) closes nothing, and TCP retries for
 * about 15 minutes before it gives up. Meanwhile an edge told its clients `stale` and kept them
 * (its balancer's health check had taken it out, but open sockets stay), and a leader that stepped
 * down renewed nothing on the dead connection, the cluster's standby lost (a chart-under-faults
 * review: 60 s and more, while a new connection would have worked at once). Every connection of a
 * node gets one: each can go silent alone. A PING that fails (a command timeout) counts as
 * unanswered; one answered ends the hang. ioredis then reconnects, and each connection's owners
 * restore what they had (ChannelSubscriptions, the lease, the writer's retries).
 */
export class HangReconnect {
  private readonly timer: NodeJS.Timeout;
  /** When the first PING not answered yet went out (undefined while they are answered). */
  private unansweredSince: number | undefined;
  private probing = false;
  /** Bumped at each reconnect: an earlier PING's settling says nothing of the new connection. */
  private generation = 0;
  reconnects = 0;

  constructor(
    private readonly redis: Redis,
    private readonly name: string,
    private readonly hangAfterMs: number,
    private readonly log: Log,
  ) {
    this.timer = setInterval(this.tick, Math.max(250, Math.floor(hangAfterMs / 2)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private readonly tick = (): void => {
    // Not connected: ioredis is reconnecting already (or it was closed).
    if (this.redis.status !== 'ready') {
      this.unansweredSince = undefined;
      return;
    }
    const now = performance.now();
    if (this.unansweredSince !== undefined && now - this.unansweredSince >= RECONNECT_AFTER_HANGS * this.hangAfterMs) {
      this.log('warn', `redis connection ${this.name} answered no PING for ${Math.round(now - this.unansweredSince)} ms: reconnecting`);
      this.unansweredSince = undefined;
      this.probing = false;
      this.generation++;
      this.reconnects++;
      this.redis.disconnect(true);
      return;
    }
    if (this.probing) return;
    this.probing = true;
    this.unansweredSince ??= now;
    const generation = this.generation;
    const settled = (answered: boolean) => {
      if (generation !== this.generation) return;
      if (answered) this.unansweredSince = undefined;
      this.probing = false;
    };
    this.redis.ping().then(
      () => settled(true),
      () => settled(false),
    );
  };
}

/** A HangReconnect for each of a node's connections (none when `hangAfterMs` is 0: probes off). */
export function reconnectWhenHung(connections: Record<string, Redis>, hangAfterMs: number, log: Log): { stop(): void } {
  const each = hangAfterMs > 0 ? Object.entries(connections).map(([name, redis]) => new HangReconnect(redis, name, hangAfterMs, log)) : [];
  return { stop: () => each.forEach((h) => h.stop()) };
}
