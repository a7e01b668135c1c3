import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicShards } from '../../../engine/src/broadcast/topic-shards.ts';

/** uWS's pub/sub as the shards see it: topics of sockets, a publish delivering to each subscriber now. */
class Bus {
  readonly topics = new Map<string, Set<number>>();
  readonly inbox = new Map<number, string[]>();
  /** Deliveries since the last `take()`, and the sockets they went to. */
  delivered = 0;
  touched = new Set<number>();
  publish(topic: string, message: string): void {
    for (const s of this.topics.get(topic) ?? []) {
      this.inbox.get(s)!.push(message);
      this.delivered++;
      this.touched.add(s);
    }
  }
  count(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }
  subscribe(socket: number, topic: string): void {
    if (!this.topics.has(topic)) this.topics.set(topic, new Set());
    this.topics.get(topic)!.add(socket);
  }
  close(socket: number): void {
    for (const set of this.topics.values()) set.delete(socket);
  }
  take(): number {
    const n = this.delivered;
    this.delivered = 0;
    this.touched.clear();
    return n;
  }
}

type Op = { op: 'join'; topic: number } | { op: 'publish'; topic: number } | { op: 'turn' } | { op: 'close'; socket: number };

const ops = fc.array(
  fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('join' as const), topic: fc.nat(1) }), weight: 4 },
    { arbitrary: fc.record({ op: fc.constant('publish' as const), topic: fc.nat(1) }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('turn' as const) }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('close' as const), socket: fc.nat(40) }), weight: 1 },
  ),
  { maxLength: 120 },
);

function setup(shardSize: number, turnDeliveries?: number, maxQueued?: number, maxQueuedChars?: number) {
  const bus = new Bus();
  const turns: Array<() => void> = [];
  const shards = new TopicShards(bus, {
    shardSize,
    turnDeliveries,
    maxQueued,
    maxQueuedChars,
    later: (fn) => {
      turns.push(fn);
      return () => turns.splice(turns.indexOf(fn), 1);
    },
  });
  return { bus, turns, shards };
}

describe('TopicShards', () => {
  it('delivers every message published after a socket joined, once, in order, and nothing from before', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), (list: Op[], shardSize, turnDeliveries) => {
        const { bus, turns, shards } = setup(shardSize, turnDeliveries);
        const expected = new Map<number, string[]>();
        const topicOf = new Map<number, string>();
        let seq = 0;
        let sockets = 0;
        for (const o of list) {
          bus.take();
          if (o.op === 'join') {
            const socket = sockets++;
            const topic = `t${o.topic}`;
            const shard = shards.join(topic);
            // What the join sent was owed to the shard's sockets from before: none of it reaches this one.
            bus.inbox.set(socket, []);
            bus.subscribe(socket, shard);
            expected.set(socket, []);
            topicOf.set(socket, topic);
            // A new shard opens only once those before it are full.
            expect(shard === topic || shard.startsWith(`${topic}#`)).toBe(true);
          } else if (o.op === 'publish') {
            const topic = `t${o.topic}`;
            const message = `${topic}:${seq++}`;
            const first = bus.count(topic);
            shards.publish(topic, message);
            // At once: the first shard only (at most a shard's worth).
            expect(bus.take()).toBe(first);
            expect(first).toBeLessThanOrEqual(shardSize);
            for (const [s, t] of topicOf) if (t === topic) expected.get(s)!.push(message);
          } else if (o.op === 'turn') {
            turns.shift()?.();
            // A later turn sends to up to its budget of sockets, or one shard's when a shard is bigger.
            expect(bus.touched.size).toBeLessThanOrEqual(Math.max(turnDeliveries, shardSize));
          } else if (topicOf.has(o.socket)) {
            bus.close(o.socket);
            topicOf.delete(o.socket);
            expected.delete(o.socket);
          }
        }
        while (turns.length) turns.shift()!();
        expect(shards.queued).toBe(0);
        for (const [s, want] of expected) expect(bus.inbox.get(s)).toEqual(want);
      }),
      { numRuns: 400 },
    );
  });

  it('sends what waits for a shard before a socket joins it: the joiner gets none of it, the others all', () => {
    const { bus, turns, shards } = setup(2);
    const join = (s: number) => {
      const shard = shards.join('k');
      bus.inbox.set(s, []);
      bus.subscribe(s, shard);
      return shard;
    };
    expect([join(0), join(1), join(2)]).toEqual(['k', 'k', 'k#1']);
    shards.publish('k', 'old');
    expect(shards.queued).toBe(1);
    // Socket 3's snapshot, taken as it joins, holds 'old' already.
    expect(join(3)).toBe('k#1');
    expect(bus.inbox.get(2)).toEqual(['old']);
    shards.publish('k', 'new');
    while (turns.length) turns.shift()!();
    expect([0, 1, 2, 3].map((s) => bus.inbox.get(s))).toEqual([['old', 'new'], ['old', 'new'], ['old', 'new'], ['new']]);
  });

  it('publishes a topic no bigger than a shard plainly, with no turn', () => {
    const { bus, turns, shards } = setup(3);
    for (let s = 0; s < 3; s++) bus.subscribe(s, shards.join('k'));
    [0, 1, 2].forEach((s) => bus.inbox.set(s, []));
    shards.publish('k', 'm');
    expect(turns).toHaveLength(0);
    expect([...bus.topics.keys()]).toEqual(['k']);
    expect(bus.inbox.get(2)).toEqual(['m']);
    expect(shards.subscribers('k')).toBe(3);
  });

  it('sends a big topic a shard a turn, and closes shards that emptied', () => {
    const { bus, turns, shards } = setup(2);
    for (let s = 0; s < 6; s++) {
      bus.inbox.set(s, []);
      bus.subscribe(s, shards.join('k'));
    }
    expect([...bus.topics.keys()]).toEqual(['k', 'k#1', 'k#2']);
    expect(shards.subscribers('k')).toBe(6);
    shards.publish('k', 'a');
    expect([0, 1, 2, 3, 4, 5].map((s) => bus.inbox.get(s)!.length)).toEqual([1, 1, 0, 0, 0, 0]);
    turns.shift()!();
    expect([0, 1, 2, 3, 4, 5].map((s) => bus.inbox.get(s)!.length)).toEqual([1, 1, 1, 1, 0, 0]);
    turns.shift()!();
    expect([0, 1, 2, 3, 4, 5].map((s) => bus.inbox.get(s)!.length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(turns).toHaveLength(0);
    // The last two shards empty: the next publish goes to the first alone, and no turn is taken.
    for (const s of [2, 3, 4, 5]) bus.close(s);
    shards.publish('k', 'b');
    expect(turns).toHaveLength(0);
    expect(bus.inbox.get(0)).toEqual(['a', 'b']);
  });

  it("sends a shard everything waiting for it in one turn (uWS then writes each socket's messages together)", () => {
    const { bus, turns, shards } = setup(2);
    for (let s = 0; s < 4; s++) {
      bus.inbox.set(s, []);
      bus.subscribe(s, shards.join('k'));
    }
    for (const m of ['a', 'b', 'c']) shards.publish('k', m);
    expect(bus.inbox.get(2)).toEqual([]);
    turns.shift()!();
    expect(bus.inbox.get(2)).toEqual(['a', 'b', 'c']);
    expect(bus.inbox.get(3)).toEqual(['a', 'b', 'c']);
    expect(shards.queued).toBe(0);
    expect(turns).toHaveLength(0);
  });

  it('bounds what waits: past maxQueued the oldest go out at once, none dropped', () => {
    const { bus, turns, shards } = setup(1, 1, 5);
    for (let s = 0; s < 4; s++) {
      bus.inbox.set(s, []);
      bus.subscribe(s, shards.join('k'));
    }
    for (let i = 0; i < 10; i++) {
      shards.publish('k', `m${i}`);
      expect(shards.queued).toBeLessThanOrEqual(5);
    }
    while (turns.length) turns.shift()!();
    const all = Array.from({ length: 10 }, (_, i) => `m${i}`);
    for (let s = 0; s < 4; s++) expect(bus.inbox.get(s)).toEqual(all);
  });

  it('bounds the characters waiting too (a reload publishes a whole snapshot): the oldest go out at once', () => {
    const { bus, turns, shards } = setup(1, 1, undefined, 250);
    for (let s = 0; s < 3; s++) {
      bus.inbox.set(s, []);
      bus.subscribe(s, shards.join('k'));
    }
    const big = (i: number) => `${i}`.padEnd(100, '.');
    for (let i = 0; i < 5; i++) {
      shards.publish('k', big(i));
      // Two shards wait for each message: 200 characters a message.
      expect(shards.queued * 100).toBeLessThanOrEqual(250);
    }
    while (turns.length) turns.shift()!();
    for (let s = 0; s < 3; s++) expect(bus.inbox.get(s)).toEqual([0, 1, 2, 3, 4].map(big));
  });

  it('clear() drops what waits and cancels its turn', () => {
    const { bus, turns, shards } = setup(1);
    for (let s = 0; s < 3; s++) {
      bus.inbox.set(s, []);
      bus.subscribe(s, shards.join('k'));
    }
    shards.publish('k', 'x');
    expect(turns).toHaveLength(1);
    shards.clear();
    expect(turns).toHaveLength(0);
    expect(shards.queued).toBe(0);
  });
});
