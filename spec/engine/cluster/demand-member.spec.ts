import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { demandNudge, encodeServed, parseDemandMember, parseDemandNudge, parseServed } from '../../../engine/src/cluster/demand-member.ts';

describe('wanted-set members and the leader answers read back from Redis', () => {
  it('a member is a validated series id; anything else is undefined (never a key)', () => {
    expect(parseDemandMember('ETHUSDT:1m')).toEqual({ symbol: 'ETHUSDT', interval: '1m', key: 'ETHUSDT:1m' });
    for (const bad of ['', ':1m', 'ETHUSDT', 'ETHUSDT:', 'ethusdt:1m', 'ETH USDT:1m', 'ETHUSDT:1m:x', 'ETHUSDT:7q', `${'A'.repeat(30)}:1m`, 'cluster:lease']) {
      expect(parseDemandMember(bad), bad).toBeUndefined();
    }
  });

  it('any string parses to undefined or to an id whose key is the string itself', () => {
    // Random strings alone almost never form a valid member: near-members are mixed in, so the key
    // check below runs on parsed ids too (counted), not only on refusals.
    const nearMember = fc
      .tuple(fc.stringMatching(/^[A-Z0-9._-]{0,22}$/), fc.constantFrom('1m', '5m', '1h', '1d', '1s', '7q', '1M', ''), fc.constantFrom('', '', ' ', ':x'))
      .map(([symbol, interval, tail]) => `${symbol}:${interval}${tail}`);
    let parsed = 0;
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), nearMember), (s) => {
        const id = parseDemandMember(s);
        if (id) {
          parsed++;
          expect(id).toEqual({ symbol: s.slice(0, s.indexOf(':')), interval: s.slice(s.indexOf(':') + 1), key: s });
        }
      }),
      { numRuns: 300 },
    );
    expect(parsed).toBeGreaterThan(0);
  });

  it('answers round-trip; unknown or malformed text is no answer', () => {
    expect(parseServed(encodeServed({ state: 'live' }))).toEqual({ state: 'live' });
    const refused = { state: 'refused' as const, code: 'series_capacity', message: 'the engine serves at most 8 on-demand series' };
    expect(parseServed(encodeServed(refused))).toEqual(refused);
    for (const bad of [null, '', 'LIVE', 'refused', 'refused Bad-Code x', `refused series_capacity ${'x'.repeat(600)}`]) expect(parseServed(bad)).toBeUndefined();
  });

  it('nudges carry the asking address; one without a valid address names no asker', () => {
    expect(parseDemandNudge(demandNudge('ETHUSDT:1m', '203.0.113.7'))).toEqual({ member: 'ETHUSDT:1m', asker: '203.0.113.7' });
    expect(parseDemandNudge(demandNudge('rsi:period=21|ETHUSDT:1m', '2001:db8::'))).toEqual({ member: 'rsi:period=21|ETHUSDT:1m', asker: '2001:db8::' });
    expect(demandNudge('ETHUSDT:1m', '')).toBe('ETHUSDT:1m');
    for (const bad of ['ETHUSDT:1m', ' 1.2.3.4', 'ETHUSDT:1m 1.2.3.4 x', `ETHUSDT:1m ${'1'.repeat(40)}`, 'ETHUSDT:1m fe80::1%eth0', 'ETHUSDT:1m ']) expect(parseDemandNudge(bad), bad).toBeUndefined();
  });
});
