import { describe, expect, it } from 'vitest';
import { FINAL_GRACE_MS, KlineFlow, MAX_QUIET_MS, quietAllowanceMs, streamIntervalMs } from '../../../engine/src/sources/quiet-allowance.ts';

const M = 60_000;

describe('quietAllowanceMs', () => {
  it('allows a quiet shard its shortest interval plus a grace, at most 10 min', () => {
    expect(quietAllowanceMs(true, false, M)).toBe(M + FINAL_GRACE_MS);
    expect(quietAllowanceMs(true, false, 1000)).toBe(1000 + FINAL_GRACE_MS);
    expect(quietAllowanceMs(true, false, 3_600_000)).toBe(MAX_QUIET_MS);
    expect(quietAllowanceMs(true, false, undefined)).toBe(MAX_QUIET_MS);
  });

  it('allows nothing to a busy shard or one that never delivered a kline (junk only is replaced at the stale time)', () => {
    expect(quietAllowanceMs(true, true, M)).toBe(0);
    expect(quietAllowanceMs(false, false, M)).toBe(0);
  });
});

describe('streamIntervalMs', () => {
  it('reads the interval of a kline stream name, with or without a time zone', () => {
    expect(streamIntervalMs('btcusdt@kline_1m')).toBe(M);
    expect(streamIntervalMs('btcusdt@kline_4h@+08:00')).toBe(4 * 3_600_000);
    expect(streamIntervalMs('btcusdt@kline_1s')).toBe(1000);
    expect(streamIntervalMs('btcusdt@trade')).toBeUndefined();
    expect(streamIntervalMs('btcusdt@kline_7x')).toBeUndefined();
  });
});

describe('KlineFlow (stale time 30 s: steady means no gap over 10 s for 60 s)', () => {
  const steady = (flow: KlineFlow, from: number, to: number, every: number) => {
    for (let t = from; t <= to; t += every) flow.note(t);
  };

  it('is busy after 60 s of klines at most 10 s apart, and not after a longer gap', () => {
    const flow = new KlineFlow(30_000);
    expect(flow.busy).toBe(false);
    steady(flow, 0, 59_000, 1000);
    expect(flow.busy).toBe(false);
    flow.note(60_000);
    expect(flow.busy).toBe(true);
    flow.note(71_000); // an 11 s gap: a quiet market, not a steady one
    expect(flow.busy).toBe(false);
  });

  it('never calls illiquid pairs busy: a pair of pushes at each minute, silence between', () => {
    const flow = new KlineFlow(30_000);
    for (let m = 0; m < 30; m++) {
      flow.note(m * M + 5);
      flow.note(m * M + 1500);
      expect(flow.busy).toBe(false);
    }
  });

  it('keeps a busy verdict across a new socket until the new socket shows a pause (a freeze replaced is still a freeze)', () => {
    const flow = new KlineFlow(30_000);
    steady(flow, 0, 120_000, 500);
    expect(flow.busy).toBe(true);
    flow.bridge();
    expect(flow.busy).toBe(true);
    flow.note(200_000); // the gap across the sockets is not counted
    flow.note(200_500);
    expect(flow.busy).toBe(true);
    flow.note(215_000);
    expect(flow.busy).toBe(false);
    flow.bridge();
    expect(flow.busy).toBe(false);
    flow.note(300_000);
    expect(flow.busy).toBe(false);
  });
});
