import type { Redis } from 'ioredis';

/**
 * Channels one owner keeps a pub/sub connection subscribed to, across every reconnect. ioredis
 * resubscribes after a reconnect only when the connection had been ready before it dropped; Redis
 * accepts a SUBSCRIBE during ioredis's handshake, after which ioredis's ready check (INFO) is refused
 * in subscriber mode and it reconnects with that subscription silently gone. Found on edges started
 * with their Redis: some followed every series by the 2 s position check alone (1.2-1.4 s late).
 * So every `ready` subscribes again (idempotent in Redis), then `resumed` runs: what was published
 * while the connection was away is lost, and the owner catches up. And nothing is subscribed before
 * the connection is ready: a SUBSCRIBE in the handshake also fails every command queued on the
 * connection (ioredis flushes them with the failed ready check), which made an edge's start fail
 * ("Connection in subscriber mode") when its reply channel was subscribed then.
 */
export class ChannelSubscriptions {
  private readonly channels = new Set<string>();
  /** Callers of `add` waiting for the connection to be ready (then subscribed with every channel). */
  private waiting: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly resumed: () => void = () => {},
  ) {
    subscriber.on('ready', this.onReady);
  }

  /**
   * Subscribes these channels (kept from now on, whatever the connection does). Resolves once they
   * are subscribed: now if the connection is ready, else at its next `ready`.
   */
  async add(...channels: string[]): Promise<void> {
    for (const c of channels) this.channels.add(c);
    if (!channels.length) return;
    if (this.subscriber.status === 'ready') {
      try {
        return void (await this.subscriber.subscribe(...channels));
      } catch (e) {
        if (this.subscriber.status === 'ready' || this.stopped) throw e;
        // The connection dropped meanwhile: its next `ready` subscribes them.
      }
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async remove(channel: string): Promise<void> {
    if (!this.channels.delete(channel)) return;
    await this.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  stop(): void {
    this.stopped = true;
    this.subscriber.off('ready', this.onReady);
    this.subscribed();
  }

  private subscribed(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  private readonly onReady = (): void => {
    // Nothing to subscribe (an add's channels were removed while it waited): its caller is done.
    if (!this.channels.size) {
      this.subscribed();
      return this.resumed();
    }
    // Resumed only once subscribed again: nothing published after the catch-up's read falls between.
    this.subscriber.subscribe(...this.channels).then(
      () => {
        this.subscribed();
        if (!this.stopped) this.resumed();
      },
      () => undefined, // dropped again: the next ready subscribes
    );
  };
}
