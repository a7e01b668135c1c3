import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SendBufferWatch } from '../../../engine/src/server/send-buffer-watch.ts';

const LIMIT = 1000;

describe('SendBufferWatch', () => {
  it('keeps a reading client through a burst past the limit that drains by the next sweep', () => {
    const w = new SendBufferWatch<string>(LIMIT);
    expect(w.tooSlow('a', 200)).toBe(false);
    // A rerun's corrections all at once: over the limit at one sweep...
    expect(w.tooSlow('a', 1800)).toBe(false);
    // ...and draining: still over, but less.
    expect(w.tooSlow('a', 1300)).toBe(false);
    expect(w.tooSlow('a', 100)).toBe(false);
    expect(w.tracked).toBe(0);
  });

  it('closes a client over the limit at two sweeps in a row that did not drain', () => {
    const w = new SendBufferWatch<string>(LIMIT);
    expect(w.tooSlow('stalled', 1200)).toBe(false);
    expect(w.tooSlow('stalled', 1200)).toBe(true);
    // A slow reader: it drains a little, then falls behind again.
    expect(w.tooSlow('slow', 1500)).toBe(false);
    expect(w.tooSlow('slow', 1400)).toBe(false);
    expect(w.tooSlow('slow', 1450)).toBe(true);
    expect(w.tracked).toBe(0);
  });

  it('closes at once past twice the limit', () => {
    const w = new SendBufferWatch<string>(LIMIT);
    expect(w.tooSlow('a', 2 * LIMIT + 1)).toBe(true);
    expect(w.tooSlow('b', 2 * LIMIT)).toBe(false);
  });

  it('lets a first message bigger than the limit stay buffered on top of it until the socket drains below the limit once', () => {
    const w = new SendBufferWatch<string>(LIMIT);
    w.sentFirst('a', 5000, 4000);
    // The allowance is capped (4000): up to 5000 held without a word, at every sweep.
    for (let i = 0; i < 5; i++) expect(w.tooSlow('a', 5000)).toBe(false);
    expect(w.tooSlow('a', 900)).toBe(false);
    // Drained below the limit once: the allowance is gone.
    expect(w.tooSlow('a', 1500)).toBe(false);
    expect(w.tooSlow('a', 1500)).toBe(true);
    // A first message under the limit gives none.
    w.sentFirst('b', 800, 4000);
    expect(w.tracked).toBe(0);
  });

  it('forgets a closed socket', () => {
    const w = new SendBufferWatch<string>(LIMIT);
    w.sentFirst('a', 5000, 4000);
    w.tooSlow('b', 1500);
    w.forget('a');
    w.forget('b');
    expect(w.tracked).toBe(0);
  });

  it('never closes a socket at or under the limit, and closes every one that stays over it without draining', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 * LIMIT }), { minLength: 1, maxLength: 40 }), (sweeps) => {
        const w = new SendBufferWatch<string>(LIMIT);
        let before: number | undefined;
        for (const b of sweeps) {
          const closed = w.tooSlow('s', b);
          // The model: over at the last sweep and not less now, or past twice the limit.
          const expected = b > 2 * LIMIT || (b > LIMIT && before !== undefined && b >= before);
          expect(closed).toBe(expected);
          if (b <= LIMIT) expect(closed).toBe(false);
          before = closed || b <= LIMIT ? undefined : b;
        }
      }),
    );
  });

  it('refuses a limit that is not positive', () => {
    expect(() => new SendBufferWatch(0)).toThrow(TypeError);
  });
});
