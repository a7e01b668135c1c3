import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelSubscriptions } from '../../../engine/src/cluster/channel-subscriptions.ts';
import { REDIS_URL, hasRedis } from '../../helpers/services.ts';

/**
 * Channels subscribed while ioredis is still in its handshake. A SUBSCRIBE sent then makes its
 * ready check (INFO) fail in subscriber mode, and ioredis fails every command queued on the
 * connection: reproduced as an edge that exited at start ("Connection in subscriber mode, only
 * subscriber commands may be used") when a second owner subscribed in that moment. Real Redis.
 */
const redisUp = await hasRedis('channel subscriptions made during the handshake (Redis)');

describe.runIf(redisUp)('channel subscriptions made during the handshake (Redis)', () => {
  const conns: Redis[] = [];
  const channel = (n: string) => `spec-chsub-${process.pid}-${n}`;
  afterEach(() => {
    for (const c of conns.splice(0)) c.disconnect();
  });

  it('two owners subscribing before the connection is ready both resolve, subscribed, with no reconnect', async () => {
    const sub = new Redis(REDIS_URL, { lazyConnect: true, autoResubscribe: false, maxRetriesPerRequest: 1 });
    const pub = new Redis(REDIS_URL);
    conns.push(sub, pub);
    sub.on('error', () => {});
    let reconnects = 0;
    sub.on('reconnecting', () => reconnects++);
    const resumed: string[] = [];
    const a = new ChannelSubscriptions(sub, () => resumed.push('a'));
    const b = new ChannelSubscriptions(sub, () => resumed.push('b'));
    const added = new Promise<unknown>((resolve, reject) => sub.once('connect', () => Promise.all([a.add(channel('x')), b.add(channel('y'))]).then(resolve, reject)));
    void sub.connect().catch(() => undefined);
    await added;
    expect(sub.status).toBe('ready');
    expect(await pub.pubsub('NUMSUB', channel('x'), channel('y'))).toEqual([channel('x'), 1, channel('y'), 1]);
    expect(reconnects).toBe(0);
    // The owners were told once the connection was ready (their catch-up runs after the subscribe).
    expect(resumed.sort()).toEqual(['a', 'b']);
    // Once ready, an add subscribes at once.
    await a.add(channel('z'));
    expect(await pub.pubsub('NUMSUB', channel('z'))).toEqual([channel('z'), 1]);
    a.stop();
    b.stop();
  });

  it('an add waiting for the connection resolves when its owner stops (nothing left waiting)', async () => {
    const sub = new Redis('redis://127.0.0.1:1/15', { lazyConnect: true, autoResubscribe: false, maxRetriesPerRequest: 1, retryStrategy: () => 1000 });
    conns.push(sub);
    sub.on('error', () => {});
    void sub.connect().catch(() => undefined);
    const owner = new ChannelSubscriptions(sub);
    const added = owner.add(channel('never'));
    owner.stop();
    await expect(added).resolves.toBeUndefined();
  });

  it('an add whose channel was removed while it waited for the connection resolves once it is ready (a code review: it never did)', async () => {
    const sub = new Redis(REDIS_URL, { lazyConnect: true, autoResubscribe: false, maxRetriesPerRequest: 1 });
    conns.push(sub);
    sub.on('error', () => {});
    const owner = new ChannelSubscriptions(sub);
    const added = owner.add(channel('gone'));
    // Its unsubscribe connects the lazy connection.
    await owner.remove(channel('gone'));
    if (sub.status !== 'ready') await new Promise((r) => sub.once('ready', r));
    const settled = await Promise.race([added.then(() => 'resolved'), new Promise((r) => setTimeout(() => r('pending'), 2000))]);
    expect(settled).toBe('resolved');
    owner.stop();
  });
});
