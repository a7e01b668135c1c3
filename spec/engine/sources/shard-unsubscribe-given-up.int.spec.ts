import { describe, expect, it } from 'vitest';
import type { StreamShard } from '../../../engine/src/sources/stream-shard.ts';
import { A, B, C, cut, D, klineAfter, untilKlineOfEach, useShardRig, Y } from '../../helpers/shard-rig.ts';
import { until } from '../../helpers/until.ts';

const MAX_ATTEMPTS = 3;

/**
 * An UNSUBSCRIBE the exchange does not apply, unanswered or refused every time (`ignoreUnsubscribes`),
 * was given up on after MAX_ATTEMPTS with its stream counted as gone, though the exchange still held
 * it: its klines read as malformed ("a kline of a stream not subscribed on this socket"), its place
 * as room, and the next new stream's SUBSCRIBE on the full socket was the exchange's fifth of four
 * (error 4, close 1008: a reconnect and a gap fill for every series on the shard). Found by a review.
 * Now the stream stays counted as held, its frames are dropped quietly, and the socket is replaced
 * make-before-break: the fresh one subscribes the wanted streams alone. Attempts are counted per
 * method: a stream's failed SUBSCRIBEs no longer use up its UNSUBSCRIBE's tries.
 *
 * Each change is made in the same turn as the shard's k-th "failed, will retry" of a method (a
 * microtask after its log, once the request is marked failed): within the pause before its retry,
 * or right at the give-up, entered on every run.
 */
describe('a full shard whose UNSUBSCRIBE the exchange never applies', () => {
  const rig = useShardRig();

  /** The shard's socket with `initial`, then `act` run; `change` runs at the `nth` failure of a `method` request. */
  const start = async (initial: string[], act: (s: StreamShard) => void, method: 'SUBSCRIBE' | 'UNSUBSCRIBE', nth: number, change: (s: StreamShard) => void, backoffInitialMs?: number) => {
    const r = await rig.start({ initial, replyTimeoutMs: 1000, backoffInitialMs, onFailure: { method, nth, change } });
    await untilKlineOfEach(r.events, initial);
    act(rig.shard);
    await until(() => r.at.changed >= 0, 20_000, `failure ${nth} of ${method}`);
    return r;
  };
  /** A, B, C, D on the socket, then D removed with its UNSUBSCRIBE never applied; `change` at the give-up. */
  const giveUpOnD = (change: (s: StreamShard) => void, answer: 'none' | 'refuse' = 'none', backoffInitialMs?: number) =>
    start(
      [A, B, C, D],
      (s) => {
        rig.sim.faults.ignoreUnsubscribes(MAX_ATTEMPTS, answer);
        s.remove([D]);
      },
      'UNSUBSCRIBE',
      MAX_ATTEMPTS,
      change,
      backoffInitialMs,
    );
  const failedLogs = (logs: string[], method: string) => logs.filter((l) => l.startsWith(`upstream ${method} failed`));

  for (const answer of ['none', 'refuse'] as const) {
    it(`replaces the socket when a swapped-out stream's UNSUBSCRIBE is given up on (${answer === 'none' ? 'unanswered' : 'refused'}): never one too many`, async () => {
      // Given up on, D is still held at the exchange: Y has no room on this socket.
      const { events, logs, malformed, at } = await giveUpOnD((s) => s.add([Y]), answer);
      await until(() => klineAfter(events, at.changed, Y) || cut(events), 15_000, 'a kline of Y (or a cut)');
      expect(failedLogs(logs, 'UNSUBSCRIBE')).toHaveLength(MAX_ATTEMPTS);
      rig.expectNeverOverCap({ events, logs }, /refused|closed/);
      // Before: D's klines, still sent by the exchange, read as malformed, until Y's SUBSCRIBE got the socket cut.
      expect(malformed).toEqual([]);
      // The replacement took over and the old socket (holding D) is closed.
      await until(() => rig.held().length === 1 && !rig.held()[0]!.includes(D), 10_000, 'the old socket closed');
      expect(rig.held()).toEqual([[A, B, C, Y].sort()]);
      expect(rig.sim.stats.wsConnectAttempts).toBe(2);
      expect(events.filter((e) => e.type === 'connected')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
      expect(malformed).toEqual([]);
    }, 40_000);
  }

  it('tries the replacement again when the first is refused: the given-up stream does not keep its place until the next rotation by age (an hour here, 24 h at most)', async () => {
    // The replacement's upgrade is refused (503) for a while: it fails before taking over.
    const { events, logs, malformed } = await giveUpOnD(() => rig.sim.faults.refuseConnections(1000));
    await until(() => logs.some((l) => l.startsWith('upstream refused the connection')), 10_000, 'the replacement refused');
    // Before: the old socket stayed current holding D, with no further try.
    await until(() => rig.held().length === 1 && !rig.held()[0]!.includes(D), 20_000, 'replaced once the exchange accepts again');
    expect(rig.held()).toEqual([[A, B, C].sort()]);
    expect(logs.filter((l) => l.startsWith('rotating upstream connection')).length).toBeGreaterThanOrEqual(2);
    rig.expectNeverOverCap({ events, logs }, /closed/);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(malformed).toEqual([]);
  }, 40_000);

  it('does not retry the replacement once the stuck stream is settled during the backoff (wanted again, subscribed)', async () => {
    // A first retry 2–4 s on: time for D's SUBSCRIBE to be answered on the socket that holds it.
    const { events, logs, malformed } = await giveUpOnD(() => rig.sim.faults.refuseConnections(100), 'none', 4000);
    await until(() => logs.some((l) => l.startsWith('upstream refused the connection')), 10_000, 'the replacement refused');
    rig.shard.add([D]);
    const attempts = rig.sim.stats.wsConnectAttempts;
    const from = events.length;
    await until(() => klineAfter(events, from, D) || cut(events), 10_000, 'a kline of D on the socket held (or a cut)');
    // Past the retry's latest time (twice the first backoff).
    await new Promise((r) => setTimeout(r, 8500));
    expect(logs.filter((l) => l.startsWith('rotating upstream connection'))).toHaveLength(1);
    expect(rig.sim.stats.wsConnectAttempts).toBe(attempts);
    expect(rig.held()).toEqual([[A, B, C, D].sort()]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(malformed).toEqual([]);
  }, 60_000);

  it('delivers a stream wanted again once its UNSUBSCRIBE is given up on, never one too many', async () => {
    const { events, logs, malformed, at } = await giveUpOnD((s) => s.add([D]));
    await until(() => rig.held().length === 1 || cut(events), 10_000, 'one socket (or a cut)');
    const from = events.length;
    await until(() => klineAfter(events, from, D) || cut(events), 10_000, 'a kline of D on the socket left (or a cut)');
    expect(klineAfter(events, at.changed, D)).toBe(true);
    rig.expectNeverOverCap({ events, logs }, /refused|closed/);
    expect(rig.held()).toEqual([[A, B, C, D].sort()]);
    expect(malformed).toEqual([]);
  }, 40_000);

  it("gives a stream's UNSUBSCRIBE its own tries after its SUBSCRIBE failed twice", async () => {
    const { events, logs, malformed } = await start(
      [A, B, C],
      (s) => {
        // D's SUBSCRIBE and its retry applied and unanswered.
        rig.sim.faults.dropReplies(2);
        s.add([D]);
      },
      'SUBSCRIBE',
      2,
      // At that second failure D is removed, and its UNSUBSCRIBE is twice not applied nor answered.
      (s) => {
        rig.sim.faults.ignoreUnsubscribes(2, 'none');
        s.remove([D]);
      },
    );
    // Before: its first UNSUBSCRIBE failure was its third attempt; D was given up on, held at the exchange.
    await until(() => rig.held()[0]?.includes(D) === false || cut(events), 15_000, 'D unsubscribed at the exchange (or a cut)');
    expect(failedLogs(logs, 'SUBSCRIBE')).toHaveLength(2);
    expect(failedLogs(logs, 'UNSUBSCRIBE')).toHaveLength(2);
    expect(logs.filter((l) => /given up|refused|closed/.test(l))).toEqual([]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(rig.sim.stats.wsConnectAttempts).toBe(1);
    expect(rig.held()).toEqual([[A, B, C].sort()]);
    expect(malformed).toEqual([]);
  }, 40_000);
});
