import { afterEach, describe, expect, it, vi } from 'vitest';
import { HeldSlots } from '../../../engine/src/server/held-slots.ts';

describe('HeldSlots', () => {
  afterEach(() => vi.useRealTimers());

  it('releases each slot once its hold is over, counts those held, and drops them unreleased on clear', () => {
    vi.useFakeTimers();
    const slots = new HeldSlots(1000);
    const released: string[] = [];
    slots.hold(() => released.push('a'));
    vi.advanceTimersByTime(600);
    slots.hold(() => released.push('b'));
    expect(slots.size).toBe(2);
    vi.advanceTimersByTime(400);
    expect(released).toEqual(['a']);
    expect(slots.size).toBe(1);
    slots.hold(() => released.push('c'));
    slots.clear();
    vi.advanceTimersByTime(5000);
    expect(released).toEqual(['a']);
    expect(slots.size).toBe(0);
  });

  it('releases at once with a hold of 0', () => {
    const released: number[] = [];
    new HeldSlots(0).hold(() => released.push(1));
    expect(released).toEqual([1]);
  });
});
