import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HangReconnect, RECONNECT_AFTER_HANGS } from '../../../engine/src/cluster/hang-reconnect.ts';
import { HoleProxy } from '../../helpers/hole-proxy.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

/**
 * HangReconnect alone, on the real Redis (DB 15) through a proxy: a healthy connection (a command
 * one and one in subscriber mode, where PING is answered too) is never reconnected; one whose path
 * goes silent is, once, and works again.
 */
const redisUp = await hasRedis('a connection whose PINGs go unanswered is reconnected');
// Far above a PING's round trip on a loaded machine (a stall shorter than twice this is no hang).
const HANG = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(redisUp)('a connection whose PINGs go unanswered is reconnected', () => {
  let proxy: HoleProxy;
  const conns: Redis[] = [];
  const connect = () => {
    const url = new URL(REDIS_URL);
    const r = new Redis({ host: '127.0.0.1', port: proxy.port, db: Number(url.pathname.slice(1) || 15), maxRetriesPerRequest: 1, autoResubscribe: false });
    r.on('error', () => {});
    conns.push(r);
    return r;
  };
  beforeAll(async () => {
    const url = new URL(REDIS_URL);
    proxy = await HoleProxy.start(Number(url.port || 6379), url.hostname);
  });
  afterAll(async () => {
    for (const c of conns) c.disconnect();
    await proxy?.close();
  });

  it('leaves healthy connections alone, and reconnects each that went silent, once', async () => {
    const commands = connect();
    const subscriber = connect();
    await subscriber.subscribe(`spec-hang-${process.pid}`);
    const logs: string[] = [];
    const hangs = [new HangReconnect(commands, 'commands', HANG, (_l, m) => logs.push(m)), new HangReconnect(subscriber, 'subscriber', HANG, (_l, m) => logs.push(m))];
    try {
      await sleep(4 * HANG);
      expect(hangs.map((h) => h.reconnects)).toEqual([0, 0]);
      proxy.holeExisting();
      await expect.poll(() => hangs.map((h) => h.reconnects), { timeout: 10_000 }).toEqual([1, 1]);
      expect(logs.every((l) => /answered no PING for \d+ ms: reconnecting$/.test(l))).toBe(true);
      // Working again on the new connections, and not reconnected again.
      await expect.poll(() => commands.status, { timeout: 10_000 }).toBe('ready');
      expect(await commands.ping()).toBe('PONG');
      await sleep((RECONNECT_AFTER_HANGS + 2) * HANG);
      expect(hangs.map((h) => h.reconnects)).toEqual([1, 1]);
    } finally {
      for (const h of hangs) h.stop();
    }
  }, 30_000);
});
