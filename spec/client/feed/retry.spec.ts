import { describe, expect, it } from 'vitest';
import { MAX_RETRY_MS, retryDelay } from '../../../client/src/feed/engine-socket.ts';

describe('reconnect backoff', () => {
  it('retries within a second of the engine being back, never slower, with jitter', () => {
    for (let a = 1; a < 50; a++) {
      expect(retryDelay(a, 1)).toBeLessThanOrEqual(MAX_RETRY_MS);
      expect(retryDelay(a, 0)).toBeGreaterThanOrEqual(retryDelay(a, 1) / 2);
    }
    expect(retryDelay(1, 1)).toBe(100);
    expect(retryDelay(20, 1)).toBe(MAX_RETRY_MS);
  });
});
