import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { leaderExpire, SeriesKeep } from '../../../engine/src/cluster/series-keep.ts';

const A = seriesId('BTCUSDT', '1m');
const B = seriesId('ETHUSDT', '1m');
const TTL = 3_600_000;
const settle = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const until = async (pred: () => boolean) => {
  for (const end = Date.now() + 5000; !pred(); await settle(10)) if (Date.now() > end) throw new Error('timed out');
};

/** A Redis the test turns away and back; it records what it took, last per series (its keys' state). */
function fakeRedis() {
  const r = {
    up: true,
    leading: true,
    fenced: false,
    calls: 0,
    /** Each series' keys: 'kept' or their ttl. */
    state: new Map<string, 'kept' | number>(),
    expire(id: { key: string }, ttlMs: number): Promise<boolean> | undefined {
      if (!r.leading) return undefined;
      r.calls++;
      if (!r.up) return Promise.reject(new Error('Connection is closed.'));
      if (r.fenced) return Promise.resolve(false);
      r.state.set(id.key, ttlMs === 0 ? 'kept' : ttlMs);
      return Promise.resolve(true);
    },
  };
  return r;
}

describe('SeriesKeep: the leader keeps live series and expires freed ones, until Redis takes it', () => {
  it('keeps a series once per term, and again after a new term', async () => {
    const redis = fakeRedis();
    const keep = new SeriesKeep({ expire: redis.expire, freedTtlMs: TTL, retryMs: 20 });
    keep.keep(A);
    keep.keep(A);
    await settle();
    expect(redis.calls).toBe(1);
    keep.newTerm();
    keep.keep(A);
    await settle();
    expect(redis.calls).toBe(2);
    expect(redis.state.get(A.key)).toBe('kept');
    keep.stop();
  });

  it('a free Redis did not take (away, fenced, not leading) is tried again until it is; a keep that failed goes again with the next write', async () => {
    const redis = fakeRedis();
    const keep = new SeriesKeep({ expire: redis.expire, freedTtlMs: TTL, retryMs: 20 });
    keep.keep(A);
    keep.keep(B);
    await settle();
    redis.up = false;
    keep.free(A);
    await settle(70);
    expect(keep.pendingFrees).toBe(1);
    expect(redis.state.get(A.key)).toBe('kept');
    redis.up = true;
    redis.fenced = true;
    await settle(50);
    expect(keep.pendingFrees).toBe(1);
    redis.fenced = false;
    redis.leading = false;
    await settle(50);
    expect(keep.pendingFrees).toBe(1);
    redis.leading = true;
    await until(() => keep.pendingFrees === 0);
    expect(redis.state.get(A.key)).toBe(TTL);
    const calls = redis.calls;
    await settle(60);
    expect(redis.calls).toBe(calls); // nothing left to retry: no more calls

    // A keep that failed (Redis away) is not counted as done: the next write keeps it.
    keep.newTerm();
    redis.up = false;
    keep.keep(B);
    await settle();
    redis.up = true;
    redis.state.set(B.key, TTL); // as an earlier free had left it
    keep.keep(B);
    await settle();
    expect(redis.state.get(B.key)).toBe('kept');
    keep.stop();
  });

  it('a keep that failed is tried again without a write (a quiet series may have none for long), until Redis takes it, the series is freed, or this node no longer leads', async () => {
    const redis = fakeRedis();
    const keep = new SeriesKeep({ expire: redis.expire, freedTtlMs: TTL, retryMs: 20 });
    redis.state.set(A.key, TTL); // an earlier free left it to expire
    redis.up = false;
    keep.keep(A);
    await settle(50);
    expect(keep.pendingKeeps).toBe(1);
    redis.fenced = true; // refused too: still pending
    redis.up = true;
    await settle(50);
    expect(keep.pendingKeeps).toBe(1);
    redis.fenced = false;
    await until(() => keep.pendingKeeps === 0);
    expect(redis.state.get(A.key)).toBe('kept');
    // Freed while its keep was pending: the free is what Redis gets.
    keep.newTerm();
    redis.up = false;
    keep.keep(B);
    await settle(30);
    keep.free(B);
    expect(keep.pendingKeeps).toBe(0);
    redis.up = true;
    await until(() => keep.pendingFrees === 0);
    expect(redis.state.get(B.key)).toBe(TTL);
    // Not leading any more: its pending keeps go (the leader keeps what it writes).
    keep.newTerm();
    redis.up = false;
    keep.keep(A);
    await settle(10);
    expect(keep.pendingKeeps).toBe(1);
    redis.leading = false;
    await until(() => keep.pendingKeeps === 0);
    keep.stop();
  });

  it("a leader's keep (leaderExpire): a free made while the node does not lead is let go, not sent in its next term (reproduced: a standby's frees all sent 5 s into its next term, hours later)", async () => {
    const calls: string[] = [];
    const lease = { leader: false, token: undefined as string | undefined };
    const keep = new SeriesKeep({
      expire: leaderExpire(
        () => lease,
        (token, id, ttlMs) => {
          calls.push(`${token} ${id.key} ${ttlMs}`);
          return Promise.resolve(true);
        },
      ),
      freedTtlMs: TTL,
      retryMs: 20,
    });
    keep.free(A);
    await settle(60);
    expect(keep.pendingFrees).toBe(0);
    // Leading again: only what it writes in this term is kept.
    lease.leader = true;
    lease.token = 't2';
    keep.newTerm();
    keep.keep(B);
    await settle(60);
    expect(calls).toEqual([`t2 ${B.key} 0`]);
    keep.stop();
  });

  it('a series kept again before its free was taken is not expired by the retry', async () => {
    const redis = fakeRedis();
    const keep = new SeriesKeep({ expire: redis.expire, freedTtlMs: TTL, retryMs: 20 });
    redis.up = false;
    keep.free(A);
    await settle();
    redis.up = true;
    keep.newTerm();
    keep.keep(A);
    await settle(80);
    expect(keep.pendingFrees).toBe(0);
    expect(redis.state.get(A.key)).toBe('kept');
    keep.stop();
  });

  it('stop ends the retries, also of a free whose call fails after it', async () => {
    const redis = fakeRedis();
    const keep = new SeriesKeep({ expire: redis.expire, freedTtlMs: TTL, retryMs: 20 });
    redis.up = false;
    keep.free(A);
    keep.stop();
    await settle(10);
    const calls = redis.calls;
    await settle(80);
    expect(redis.calls).toBe(calls);
  });
});
