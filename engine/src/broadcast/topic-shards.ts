/** What the shards need of uWS's pub/sub: publish to a topic, and its subscriber count. */
export interface TopicBus {
  publish(topic: string, message: string): void;
  count(topic: string): number;
}

export interface TopicShardsOptions {
  /** Subscribers a shard takes before the next one opens. */
  shardSize: number;
  /** A topic's shards at most (the last one takes whoever comes beyond). */
  maxShards?: number;
  /** Sockets a later turn sends to at most (at least one shard's). */
  turnDeliveries?: number;
  /** Jobs waiting at most, and their messages' characters: beyond, the oldest go out at once (bounded, nothing dropped). */
  maxQueued?: number;
  maxQueuedChars?: number;
  /** A publish to a further shard was queued for a later turn. */
  onLater?(): void;
  /** Runs `fn` in a later event-loop turn; returns a canceller. */
  later(fn: () => void): () => void;
}

interface Job {
  shard: string;
  message: string;
  n: number;
  done: boolean;
}

const shardName = (topic: string, k: number) => (k === 0 ? topic : `${topic}#${k}`);

/**
 * uWS sends a publish to every subscriber of its topic in one pass of its loop: pushes to 16,000
 * sockets on one symbol held the event loop 162–411 ms at a time (an attacker-style probe; 9–97 ms in
 * shards), and with it every other socket's reads, pings and first messages. So a topic's subscribers are split into shards of
 * `shardSize` (topic, topic#1, topic#2, …): a publish goes to the first shard at once and to each
 * further one in a later turn, still one serialization per update (the shards share the string).
 * A topic no bigger than a shard has one, and publishes exactly as a plain topic does.
 *
 * Order: each shard's messages go out in publish order (a shard with one waiting sends the next after
 * it). A socket joining a shard gets what is still waiting for that shard sent first, to the shard's
 * other sockets: its snapshot, taken just before, already holds those updates.
 */
export class TopicShards {
  /** Topics that opened more than one shard: how many. */
  private readonly widths = new Map<string, number>();
  private readonly queue: Job[] = [];
  private head = 0;
  /** Each shard's waiting jobs, in order (a shard's jobs are sent in order, so the one sent is always its first). */
  private readonly waiting = new Map<string, Job[]>();
  private cancel: (() => void) | undefined;
  /** Jobs not sent yet, and their messages' characters (a message shared by shards counted for each). */
  private count = 0;
  private chars = 0;
  private readonly maxShards: number;
  private readonly turnDeliveries: number;
  private readonly maxQueued: number;
  private readonly maxQueuedChars: number;

  constructor(
    private readonly bus: TopicBus,
    private readonly opts: TopicShardsOptions,
  ) {
    this.maxShards = opts.maxShards ?? 64;
    this.turnDeliveries = opts.turnDeliveries ?? opts.shardSize;
    this.maxQueued = opts.maxQueued ?? 10_000;
    // A reload's `historical` (edges) is published to its series' topic too: 16 Mi characters of them at most.
    this.maxQueuedChars = opts.maxQueuedChars ?? 16 * 2 ** 20;
  }

  /** The shard a new subscriber of `topic` subscribes to (the first with room); call right before subscribing. */
  join(topic: string): string {
    const width = this.widths.get(topic) ?? 1;
    let k = 0;
    while (k < this.maxShards - 1 && k < width && this.bus.count(shardName(topic, k)) >= this.opts.shardSize) k++;
    if (k >= width) this.widths.set(topic, k + 1);
    const shard = shardName(topic, k);
    if (this.waiting.has(shard)) this.flush(shard);
    return shard;
  }

  /** Subscribers of `topic`, every shard together. */
  subscribers(topic: string): number {
    const width = this.widths.get(topic);
    if (width === undefined) return this.bus.count(topic);
    let n = 0;
    for (let k = 0; k < width; k++) n += this.bus.count(shardName(topic, k));
    return n;
  }

  /** Publishes to every shard of `topic`: the first now, the others in later turns. */
  publish(topic: string, message: string): void {
    this.bus.publish(topic, message);
    const width = this.widths.get(topic);
    if (width === undefined) return;
    let top = 0;
    for (let k = 1; k < width; k++) {
      const shard = shardName(topic, k);
      const n = this.bus.count(shard);
      // Nobody to send it to: whoever joins later has it in the snapshot taken as it joins.
      if (n === 0) continue;
      top = k;
      const job = { shard, message, n, done: false };
      this.queue.push(job);
      this.count++;
      this.chars += message.length;
      this.opts.onLater?.();
      const list = this.waiting.get(shard);
      if (list) list.push(job);
      else this.waiting.set(shard, [job]);
    }
    // Shards emptied at the end close (a topic back under one shard publishes plainly again).
    if (top === 0) this.widths.delete(topic);
    else if (top + 1 < width) this.widths.set(topic, top + 1);
    while (this.count > this.maxQueued || this.chars > this.maxQueuedChars) this.runNext();
    this.schedule();
  }

  /** Jobs waiting now. */
  get queued(): number {
    return this.count;
  }

  /** Drops what waits (the server is closing its sockets). */
  clear(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.count = 0;
    this.chars = 0;
    this.waiting.clear();
  }

  private schedule(): void {
    if (this.cancel || this.waiting.size === 0) return;
    this.cancel = this.opts.later(() => {
      this.cancel = undefined;
      this.turn();
    });
  }

  /**
   * One later turn: the shards of the oldest jobs, up to `turnDeliveries` sockets (at least one shard),
   * each with everything waiting for it: uWS writes a socket's messages of one turn together, so a
   * shard behind by several updates costs a write per socket, not one per update.
   */
  private turn(): void {
    let sockets = 0;
    for (;;) {
      this.compact();
      const job = this.queue[this.head];
      if (!job || (sockets > 0 && sockets + job.n > this.turnDeliveries)) break;
      sockets += job.n;
      this.flush(job.shard);
    }
    this.schedule();
  }

  /** Runs the oldest job not sent yet (a join or a turn sends a shard's jobs ahead of the queue). */
  private runNext(): void {
    while (this.head < this.queue.length) {
      const job = this.queue[this.head++]!;
      if (job.done) continue;
      this.send(job);
      break;
    }
    this.compact();
  }

  /** Moves past the sent jobs at the queue's head, dropping them once they are half of it. */
  private compact(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.done) this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Sends what waits for `shard`, in order. */
  private flush(shard: string): void {
    for (const job of [...(this.waiting.get(shard) ?? [])]) this.send(job);
  }

  private send(job: Job): void {
    job.done = true;
    this.count--;
    this.chars -= job.message.length;
    const list = this.waiting.get(job.shard)!;
    list.shift();
    if (!list.length) this.waiting.delete(job.shard);
    this.bus.publish(job.shard, job.message);
  }
}
