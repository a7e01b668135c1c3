import { describe, expect, it } from 'vitest';
import { echo } from '../../../engine/src/domain/echo.ts';

describe('echo: a client\'s text as an error message quotes it', () => {
  it('keeps printable ASCII, escapes everything else, and cuts at max with an ellipsis', () => {
    expect(echo('BTCUSDT', 40)).toBe('BTCUSDT');
    expect(echo('a\nb\u0000c\u202ed', 40)).toBe('a\\u000ab\\u0000c\\u202ed');
    expect(echo('x'.repeat(100), 5)).toBe('xxxxx…');
    expect(echo('é', 5)).toBe('\\u00e9');
    // An ellipsis the client sent is escaped: only the cut is marked with one.
    expect(echo('a…', 5)).toBe('a\\u2026');
    // Each escape is 6 characters: what a quote can grow to stays bounded.
    expect(echo('\u202e'.repeat(10_000), 40).length).toBeLessThanOrEqual(40 * 6 + 1);
  });
});
