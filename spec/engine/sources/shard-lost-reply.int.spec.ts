import { describe, expect, it } from 'vitest';
import type { StreamShard } from '../../../engine/src/sources/stream-shard.ts';
import { A, B, C, cut, D, klineAfter, untilKlineOfEach, useShardRig, Y } from '../../helpers/shard-rig.ts';
import { until } from '../../helpers/until.ts';

/**
 * A SUBSCRIBE or UNSUBSCRIBE the exchange applied and never answered (its reply lost or late, as
 * `dropReplies` makes it) leaves the shard not knowing whether the exchange holds its streams. A new
 * stream whose SUBSCRIBE went unanswered was taken out of the socket's requested streams: its place
 * counted as room, so a stream swapped in for it before the retry was the exchange's fifth of four
 * (error 4, close 1008), and it was never unsubscribed; its klines meanwhile read as malformed. One
 * whose UNSUBSCRIBE went unanswered and was wanted again was taken as held and never subscribed.
 * Now such streams stay counted as held and are settled by the next SUBSCRIBE or UNSUBSCRIBE.
 *
 * Each change is made in the same turn as the shard's "failed, will retry" (a microtask after its
 * log, once the request is marked failed): within the pause before its retry, entered on every run.
 */
describe('a full shard whose control request goes unanswered', () => {
  const rig = useShardRig();

  /** The shard's socket full (A, B, C, D), then `act` run; `change` runs when a request of `method` is marked failed. */
  const start = async (method: 'SUBSCRIBE' | 'UNSUBSCRIBE', initial: string[], act: (s: StreamShard) => void, change: (s: StreamShard) => void) => {
    const r = await rig.start({ initial, replyTimeoutMs: 1000, onFailure: { method, nth: 1, change } });
    await untilKlineOfEach(r.events, initial);
    rig.sim.faults.dropReplies(1);
    act(rig.shard);
    await until(() => r.at.changed >= 0, 10_000, `an unanswered ${method}`);
    return r;
  };

  it('unsubscribes a stream whose SUBSCRIBE went unanswered, swapped out before the retry: never one too many', async () => {
    const { events, logs, malformed } = await start(
      'SUBSCRIBE',
      [A, B, C],
      (s) => s.add([D]),
      (s) => {
        s.remove([D]);
        s.add([Y]);
      },
    );
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'XRPUSDT') || cut(events), 10_000, 'a kline of Y (or a cut)');
    rig.expectNeverOverCap({ events, logs }, /refused|closed/, 1);
    // D is gone from the exchange too (before: never unsubscribed, left holding a place).
    await until(() => rig.held()[0]?.includes(D) === false, 5000, 'D unsubscribed at the exchange');
    expect(rig.held()).toEqual([[A, B, C, Y].sort()]);
    expect(malformed).toEqual([]);
  }, 30_000);

  it('keeps taking the klines of a stream whose SUBSCRIBE went unanswered, and asks for it again', async () => {
    const { events, logs, malformed, failures } = await start(
      'SUBSCRIBE',
      [A, B, C],
      (s) => s.add([D]),
      () => rig.sim.faults.dropReplies(1),
    );
    // Its second SUBSCRIBE (the retry) unanswered too, the third answered.
    await until(() => failures.length >= 2 || cut(events), 10_000, 'a second unanswered SUBSCRIBE of D (or a cut)');
    await until(() => klineAfter(events, failures[1] ?? 0, D) || cut(events), 10_000, 'a kline of D after it (or a cut)');
    expect(logs.filter((l) => /failed/.test(l))).toEqual([`upstream SUBSCRIBE failed, will retry {"shard":0,"streams":1,"why":"no reply"}`, `upstream SUBSCRIBE failed, will retry {"shard":0,"streams":1,"why":"no reply"}`]);
    expect(logs.filter((l) => /refused|closed/.test(l))).toEqual([]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(rig.held()).toEqual([[A, B, C, D].sort()]);
    // Before: its klines between the lost reply and the retry came on a socket that no longer asked for it.
    expect(malformed).toEqual([]);
  }, 30_000);

  it('subscribes again a stream whose UNSUBSCRIBE went unanswered, wanted again before the retry', async () => {
    const { events, logs, malformed, at } = await start(
      'UNSUBSCRIBE',
      [A, B, C, D],
      (s) => s.remove([D]),
      (s) => s.add([D]),
    );
    expect(at.held).toEqual([[A, B, C].sort()]);
    // Before: taken as held, it was never subscribed, and its series got nothing.
    await until(() => klineAfter(events, at.changed, D) || cut(events), 10_000, 'a kline of D (or a cut)');
    expect(logs.filter((l) => /refused|closed/.test(l))).toEqual([]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(rig.held()).toEqual([[A, B, C, D].sort()]);
    expect(malformed).toEqual([]);
  }, 30_000);

  it('unsubscribes the stream that took its room before subscribing again one whose UNSUBSCRIBE went unanswered', async () => {
    const { events, logs, malformed, at } = await start(
      'UNSUBSCRIBE',
      [A, B, C, D],
      (s) => {
        s.remove([D]);
        s.add([Y]);
      },
      (s) => {
        s.remove([Y]);
        s.add([D]);
      },
    );
    // Y took D's place before D's UNSUBSCRIBE was given up on: D, put back, counts one over the cap.
    expect(at.held).toEqual([[A, B, C, Y].sort()]);
    await until(() => klineAfter(events, at.changed, D) || cut(events), 10_000, 'a kline of D (or a cut)');
    rig.expectNeverOverCap({ events, logs }, /refused|closed/, 1);
    await until(() => rig.held()[0]?.includes(Y) === false, 5000, 'Y unsubscribed at the exchange');
    expect(rig.held()).toEqual([[A, B, C, D].sort()]);
    expect(malformed).toEqual([]);
  }, 30_000);
});
