import { describe, expect, it } from 'vitest';
import { parseSeriesStatus } from '../../../engine/src/cluster/leader-presence.ts';

describe("parseSeriesStatus: the leader's per-series status read back from Redis", () => {
  it('takes each valid `state:key` and skips anything else (it becomes no key, no status)', () => {
    const text = 'stale:BTCUSDT:1m reconnecting:ETHUSDT:15m live:SOLUSDT:1m stale:bad/sym:1m stale:BTCUSDT:7q BTCUSDT:1m reconnecting: :';
    expect(parseSeriesStatus(text).map((s) => `${s.state} ${s.id.key}`)).toEqual(['stale BTCUSDT:1m', 'reconnecting ETHUSDT:15m']);
    expect(parseSeriesStatus(undefined)).toEqual([]);
    expect(parseSeriesStatus('')).toEqual([]);
  });

  it('reads a bounded number of entries', () => {
    const text = Array.from({ length: 10_000 }, () => 'stale:BTCUSDT:1m').join(' ');
    expect(parseSeriesStatus(text).length).toBe(8192);
  });
});
