import { afterEach, describe, expect, it, vi } from 'vitest';
import { HeldSlots, MAX_HOLD_FACTOR } from '../../../engine/src/server/held-slots.ts';

describe('HeldSlots', () => {
  afterEach(() => vi.useRealTimers());

  it('releases each slot once its hold is over, counts those held, and drops them unreleased on clear', () => {
    vi.useFakeTimers();
    const slots = new HeldSlots(1000);
    const released: string[] = [];
    slots.hold('198.51.100.1', () => released.push('a'));
    vi.advanceTimersByTime(600);
    slots.hold('198.51.100.1', () => released.push('b'));
    expect(slots.size).toBe(2);
    vi.advanceTimersByTime(400);
    expect(released).toEqual(['a']);
    expect(slots.size).toBe(1);
    slots.hold('198.51.100.1', () => released.push('c'));
    slots.clear();
    vi.advanceTimersByTime(5000);
    expect(released).toEqual(['a']);
    expect(slots.size).toBe(0);
  });

  it('releases at once with a hold of 0', () => {
    const released: number[] = [];
    new HeldSlots(0).hold('198.51.100.1', () => released.push(1));
    expect(released).toEqual([1]);
  });

  /** How long a slot of `address` struck now is held: read off its release, which is waited for. */
  const heldFor = (slots: HeldSlots, address: string): number => {
    const start = Date.now();
    let end = 0;
    slots.hold(address, () => (end = Date.now()));
    vi.advanceTimersToNextTimer();
    return end - start;
  };

  it('holds an address that strikes again within its hold twice as long each time, up to MAX_HOLD_FACTOR times; a quiet one starts over (reproduced: the cap grew by its worth every hold)', () => {
    vi.useFakeTimers();
    const slots = new HeldSlots(1000);
    // Each strike comes as the last hold ends (the client opens again and stops reading).
    const holds = Array.from({ length: 9 }, () => heldFor(slots, '198.51.100.1'));
    expect(holds).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 64000, 64000]);
    expect(MAX_HOLD_FACTOR).toBe(64);
    // Another address starts at the base hold; its slots closed together share one hold.
    const together: number[] = [];
    const t0 = Date.now();
    slots.hold('198.51.100.2', () => together.push(Date.now() - t0));
    slots.hold('198.51.100.2', () => together.push(Date.now() - t0));
    vi.advanceTimersByTime(500);
    slots.hold('198.51.100.2', () => together.push(Date.now() - t0));
    vi.advanceTimersByTime(5000);
    expect(together).toEqual([1000, 1000, 1500]);
    // Quiet for over twice its last hold: back to the base hold.
    vi.advanceTimersByTime(2 * 64_000);
    expect(heldFor(slots, '198.51.100.1')).toBe(1000);
  });
});
