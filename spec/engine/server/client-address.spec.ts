import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBlock, clientAddress } from '../../../engine/src/server/client-address.ts';

describe('clientAddress', () => {
  it('is the peer unless the peer is a trusted proxy; then the rightmost X-Forwarded-For entry', () => {
    expect(clientAddress('203.0.113.7', '198.51.100.1', [])).toBe('203.0.113.7');
    expect(clientAddress('203.0.113.7', '198.51.100.1', ['10.0.0.5'])).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.5', '1.1.1.1, 198.51.100.1', ['10.0.0.5'])).toBe('198.51.100.1');
    expect(clientAddress('::ffff:10.0.0.5', '198.51.100.1', ['10.0.0.5'])).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.5', '198.51.100.1', ['*'])).toBe('198.51.100.1');
    // Not an address: the proxy's own.
    expect(clientAddress('10.0.0.5', 'unknown', ['*'])).toBe('10.0.0.5');
  });

  it("reads an IPv4 peer of a dual-stack listener (uWS: 0000:0000:0000:0000:0000:ffff:7f00:0002) as its IPv4 address, and TRUST_PROXY matches it (reproduced: every IPv4 client rationed as one, 0:0:0:0::)", () => {
    expect(clientAddress('0000:0000:0000:0000:0000:ffff:7f00:0002', undefined, [])).toBe('127.0.0.2');
    expect(clientAddress('0000:0000:0000:0000:0000:ffff:7f00:0003', undefined, [])).toBe('127.0.0.3');
    expect(clientAddress('::FFFF:7F00:4', undefined, [])).toBe('127.0.0.4');
    expect(clientAddress('0:0:0:0:0:ffff:203.0.113.9', undefined, [])).toBe('203.0.113.9');
    // Not mapped: IPv6 as before (::1 is not an IPv4 client).
    expect(clientAddress('0000:0000:0000:0000:0000:0000:0000:0001', undefined, [])).toBe('0:0:0:0::');
    expect(clientAddress('0000:0000:0000:0000:0001:ffff:7f00:0002', undefined, [])).toBe('0:0:0:0::');
    // The proxy listed in either spelling, the peer in the other.
    expect(clientAddress('0000:0000:0000:0000:0000:ffff:0a00:0005', '198.51.100.7', ['10.0.0.5'])).toBe('198.51.100.7');
    expect(clientAddress('0000:0000:0000:0000:0000:0000:0000:0001', '198.51.100.8', ['::1'])).toBe('198.51.100.8');
    expect(clientAddress('10.0.0.5', '198.51.100.9', ['::ffff:10.0.0.5'])).toBe('198.51.100.9');
    expect(clientAddress('0000:0000:0000:0000:0000:ffff:0a00:0006', '198.51.100.7', ['10.0.0.5'])).toBe('10.0.0.6');
  });

  it('property: every spelling of an IPv4-mapped address is rationed as that IPv4 address', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(
      fc.property(octet, octet, octet, octet, (a, b, c, d) => {
        const v4 = `${a}.${b}.${c}.${d}`;
        const hex = (x: number, y: number) => ((x << 8) | y).toString(16).padStart(4, '0');
        for (const spelled of [`::ffff:${v4}`, `0:0:0:0:0:ffff:${v4}`, `0000:0000:0000:0000:0000:ffff:${hex(a, b)}:${hex(c, d)}`, `::FFFF:${hex(a, b)}:${hex(c, d)}`]) {
          expect(clientAddress(spelled, undefined, [])).toBe(v4);
        }
      }),
    );
  });

  it('drops an IPv6 zone id: a forged entry of any length is no longer a key of that length', () => {
    const long = `fe80::1%${'z'.repeat(50_000)}`;
    expect(clientAddress('10.0.0.5', long, ['*'])).toBe('fe80:0:0:0::');
    expect(clientAddress('10.0.0.5', '::%x', ['*'])).toBe('0:0:0:0::');
  });

  it('rations IPv6 clients by their /64 network', () => {
    expect(clientAddress('2001:db8:0:7::1', undefined, [])).toBe('2001:db8:0:7::');
    expect(clientAddress('2001:0db8:0000:0007:ffff:0000:0000:0009', undefined, [])).toBe('2001:db8:0:7::');
    expect(clientAddress('10.0.0.5', '2001:db8::7:1.2.3.4', ['*'])).toBe('2001:db8:0:0::');
    expect(clientAddress('64:ff9b::192.0.2.33', undefined, [])).toBe('64:ff9b:0:0::');
  });

  it('property: every address of one /64 is rationed as one, an IP address of at most 39 characters', () => {
    const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.array(group, { minLength: 4, maxLength: 4 }), (a, low) => {
        const full = a.join(':');
        const sibling = [...a.slice(0, 4), ...low].join(':');
        const r = clientAddress(full, undefined, []);
        expect(r).toBe(clientAddress(sibling, undefined, []));
        // The compressed spelling of the same address too.
        expect(clientAddress(new URL(`http://[${full}]/`).hostname.slice(1, -1), undefined, [])).toBe(r);
        expect(isIP(r)).toBe(6);
        expect(r.length).toBeLessThanOrEqual(39);
      }),
    );
  });
});

describe('addressBlock', () => {
  it('is an IPv4 address\'s /24 and an IPv6 address\'s /48; anything else as it is', () => {
    expect(addressBlock('203.0.113.77')).toBe('203.0.113.0/24');
    expect(addressBlock('2001:db8:7:1::')).toBe('2001:db8:7::/48');
    expect(addressBlock(clientAddress('2001:0db8:0007:ffff::9', undefined, []))).toBe('2001:db8:7::/48');
    expect(addressBlock('0:0:0:0::')).toBe('0:0:0::/48');
    expect(addressBlock('not-an-ip')).toBe('not-an-ip');
  });

  it('property: every rationed address of one /48 is one block', () => {
    const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.array(group, { minLength: 5, maxLength: 5 }), (a, low) => {
        const block = addressBlock(clientAddress(a.join(':'), undefined, []));
        expect(addressBlock(clientAddress([...a.slice(0, 3), ...low].join(':'), undefined, []))).toBe(block);
        expect(block.endsWith('::/48')).toBe(true);
      }),
    );
  });
});
