import { describe, expect, it } from 'vitest';
import { FULL_RETRY_SEC, NodeAdmission } from '../../../engine/src/server/node-admission.ts';

describe('NodeAdmission', () => {
  it('refuses server_full at MAX_CLIENTS open, without spending the rate', () => {
    let open = 3;
    const a = new NodeAdmission(3, 1, () => open, () => 0);
    expect(a.admit()).toMatchObject({ code: 'server_full', retryAfterSec: FULL_RETRY_SEC, error: expect.stringMatching(/MAX_CLIENTS/) });
    expect(a.full()?.code).toBe('server_full');
    open = 2;
    expect(a.full()).toBeUndefined();
    // The burst (MAX_CLIENTS, 3) is whole: the refusals above took none of it.
    expect([a.admit(), a.admit(), a.admit()]).toEqual([undefined, undefined, undefined]);
    expect(a.admit()).toMatchObject({ code: 'server_busy', retryAfterSec: 1, error: expect.stringMatching(/MAX_CONNECTS_PER_SECOND/) });
  });

  it('takes new connections at the rate after a burst of MAX_CLIENTS, or of the rate when larger', () => {
    let t = 0;
    const a = new NodeAdmission(10, 4, () => 0, () => t);
    let taken = 0;
    while (!a.admit()) taken++;
    expect(taken).toBe(10);
    t += 1000;
    taken = 0;
    while (!a.admit()) taken++;
    expect(taken).toBe(4);
    const small = new NodeAdmission(2, 50, () => 0, () => t);
    taken = 0;
    while (!small.admit() && taken < 1000) taken++;
    expect(taken).toBe(50);
  });

  it('bounds nothing with both at 0, and uses a burst of 5,000 with MAX_CLIENTS off', () => {
    const none = new NodeAdmission(0, 0, () => 1_000_000);
    for (let i = 0; i < 10_000; i++) expect(none.admit()).toBeUndefined();
    const rateOnly = new NodeAdmission(0, 100, () => 1_000_000, () => 0);
    let taken = 0;
    while (!rateOnly.admit() && taken < 10_000) taken++;
    expect(taken).toBe(5000);
  });
});
