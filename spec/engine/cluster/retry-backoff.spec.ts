import { describe, expect, it } from 'vitest';
import { RETRY_FIRST_MS, RETRY_MAX_MS, RetryBackoff } from '../../../engine/src/cluster/retry-backoff.ts';

describe('RetryBackoff: how long failed writes wait before they go again', () => {
  it('doubles per round while writes keep failing, up to the longest wait', () => {
    let t = 0;
    const b = new RetryBackoff(() => t);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      b.failed();
      const w = b.next();
      waits.push(w);
      t += w;
    }
    expect(waits).toEqual([RETRY_FIRST_MS, 500, 1000, 2000, 4000, RETRY_MAX_MS, RETRY_MAX_MS]);
  });

  it('a success between failures does not start over; a quiet spell of twice the longest wait does', () => {
    let t = 0;
    const b = new RetryBackoff(() => t);
    for (let i = 0; i < 6; i++) {
      b.failed();
      t += b.next();
    }
    // Some writes succeed meanwhile (there is no call for it): the next failure still waits long.
    t += 1000;
    b.failed();
    expect(b.next()).toBe(RETRY_MAX_MS);
    t += 2 * RETRY_MAX_MS + 1;
    b.failed();
    expect(b.next()).toBe(RETRY_FIRST_MS);
  });
});
