import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeServed, parseDemandMember, parseServed } from '../../../engine/src/cluster/demand-member.ts';

describe('wanted-set members and the leader answers read back from Redis', () => {
  it('a member is a validated series id; anything else is undefined (never a key)', () => {
    expect(parseDemandMember('ETHUSDT:1m')).toEqual({ symbol: 'ETHUSDT', interval: '1m', key: 'ETHUSDT:1m' });
    for (const bad of ['', ':1m', 'ETHUSDT', 'ETHUSDT:', 'ethusdt:1m', 'ETH USDT:1m', 'ETHUSDT:1m:x', 'ETHUSDT:7q', `${'A'.repeat(30)}:1m`, 'cluster:lease']) {
      expect(parseDemandMember(bad), bad).toBeUndefined();
    }
  });

  it('any string parses to undefined or to an id whose key is the string itself', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const id = parseDemandMember(s);
        if (id) expect(id.key).toBe(s);
      }),
    );
  });

  it('answers round-trip; unknown or malformed text is no answer', () => {
    expect(parseServed(encodeServed({ state: 'live' }))).toEqual({ state: 'live' });
    const refused = { state: 'refused' as const, code: 'series_capacity', message: 'the engine serves at most 8 on-demand series' };
    expect(parseServed(encodeServed(refused))).toEqual(refused);
    for (const bad of [null, '', 'LIVE', 'refused', 'refused Bad-Code x', `refused series_capacity ${'x'.repeat(600)}`]) expect(parseServed(bad)).toBeUndefined();
  });
});
