import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CatchUpWaits } from '../../../engine/src/server/catch-up-waits.ts';

/** Resumes waiting for a node's feed to catch up: one shared timer, each waiter let go when ready or at its deadline. */
describe('CatchUpWaits', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('lets each wait go once ready or at its deadline, on one timer that stops when nobody waits', () => {
    const waits = new CatchUpWaits(10);
    let offset = 0;
    const went: string[] = [];
    waits.wait(() => offset >= 3, 2000, () => went.push('a'));
    waits.wait(() => offset >= 5, 2000, () => went.push('b'));
    waits.wait(() => false, 100, () => went.push('late'));
    for (let i = 0; i < 997; i++) waits.wait(() => offset >= 1_000, 2000, () => went.push('many'));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(30);
    expect(went).toEqual([]);
    offset = 3;
    vi.advanceTimersByTime(10);
    expect(went).toEqual(['a']);
    offset = 5;
    vi.advanceTimersByTime(10);
    expect(went).toEqual(['a', 'b']);
    vi.advanceTimersByTime(60);
    expect(went).toEqual(['a', 'b', 'late']);
    vi.advanceTimersByTime(2000);
    expect(went.length).toBe(1000);
    expect(waits.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clear ends every wait without running it, and the timer with them', () => {
    const waits = new CatchUpWaits(10);
    const go = vi.fn();
    waits.wait(() => false, 1000, go);
    waits.clear();
    vi.advanceTimersByTime(2000);
    expect(go).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });
});
