import { afterEach, describe, expect, it, vi } from 'vitest';
import { BUSY_AFTER, BUSY_GAP_MS, BusyGap, MAX_BUSY_GAP_MS, UPDATES_PER_GAP_MS, busyGapAfter } from '../../../engine/src/cluster/busy-gap.ts';

describe('busy gap', () => {
  afterEach(() => void vi.useRealTimers());

  it('grows with the updates a call carried, from BUSY_GAP_MS to MAX_BUSY_GAP_MS', () => {
    expect(busyGapAfter(1)).toBe(BUSY_GAP_MS);
    expect(busyGapAfter(BUSY_GAP_MS * UPDATES_PER_GAP_MS)).toBe(BUSY_GAP_MS);
    expect(busyGapAfter(BUSY_GAP_MS * UPDATES_PER_GAP_MS + 6)).toBe(BUSY_GAP_MS + 6 / UPDATES_PER_GAP_MS);
    expect(BUSY_GAP_MS + 6 / UPDATES_PER_GAP_MS).toBeLessThan(MAX_BUSY_GAP_MS);
    expect(busyGapAfter(MAX_BUSY_GAP_MS * UPDATES_PER_GAP_MS)).toBe(MAX_BUSY_GAP_MS);
    expect(busyGapAfter(256)).toBe(MAX_BUSY_GAP_MS);
  });

  /** A writer's sustained calls, each carrying `carried` updates: when (ms after the first) each went. */
  function calls(carried: number, n: number): number[] {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const at: number[] = [];
    const t0 = performance.now();
    const gap: BusyGap = new BusyGap(() => call());
    const call = () => {
      if (!gap.admits(false)) return;
      at.push(performance.now() - t0);
      gap.sent(carried);
    };
    // Each call asks again as soon as it went (its answer comes at once): only the gap holds it.
    for (let k = 0; k < n; k++) {
      call();
      vi.advanceTimersByTime(0.5);
      while (at.length <= k) vi.advanceTimersByTime(0.5);
    }
    return at;
  }

  it('a burst goes at once, then a sustained flow waits the gap after each call, longer after large ones', () => {
    const spacing = (at: number[]) => at.slice(BUSY_AFTER).map((t, i) => t - at[BUSY_AFTER - 1 + i]!);
    const small = calls(3, 8);
    // The first BUSY_AFTER calls do not wait for each other.
    expect(small.slice(1, BUSY_AFTER).every((t, i) => t - small[i]! <= 0.5)).toBe(true);
    for (const d of spacing(small)) expect(d).toBeGreaterThanOrEqual(BUSY_GAP_MS);
    for (const d of spacing(small)) expect(d).toBeLessThanOrEqual(BUSY_GAP_MS + 0.5);
    vi.useRealTimers();
    const large = calls(200, 8);
    for (const d of spacing(large)) expect(d).toBeGreaterThanOrEqual(MAX_BUSY_GAP_MS);
    for (const d of spacing(large)) expect(d).toBeLessThanOrEqual(MAX_BUSY_GAP_MS + 0.5);
  });
});
