import { isIP } from 'node:net';

/** The two 16-bit groups of a dotted IPv4 tail of an IPv6 address, in hex. */
const v4Groups = (dotted: string) => {
  const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
};

/** The eight 16-bit groups of a valid IPv6 address. */
function groups8(a: string): number[] {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').flatMap((g) => (g.includes('.') ? v4Groups(g) : [g])) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.map((g) => parseInt(g, 16));
}

/** The first address of a valid IPv6 address's /64 network, e.g. `2001:db8:0:7::`. */
function network64(a: string): string {
  return `${groups8(a)
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::`;
}

/**
 * An IP address in one spelling (IPv6: eight groups, no leading zeros), without an IPv6 zone id (`%eth0`: any text Node's isIP accepts, so a
 * forged header could make a key of any length): an IPv4-mapped IPv6 address as its IPv4 address, in
 * any spelling (`::ffff:10.0.0.5`, or `0000:0000:0000:0000:0000:ffff:0a00:0005` as uWS gives every
 * IPv4 peer of a dual-stack listener: read as IPv6, all of them were rationed as one /64, `0:0:0:0::`,
 * and TRUST_PROXY never matched; a review). Undefined when it is no IP address.
 */
function canonical(a: string): { ip: string; family: 4 | 6 } | undefined {
  const zone = a.indexOf('%');
  const ip = zone < 0 ? a : a.slice(0, zone);
  const family = isIP(ip);
  if (family === 4) return { ip, family };
  if (family !== 6) return undefined;
  const g = groups8(ip);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return { ip: `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`, family: 4 };
  return { ip: g.map((x) => x.toString(16)).join(':'), family };
}

/**
 * What a client is rationed as: an IPv4 address as it is; an IPv6 address as its /64 network, since
 * one subscriber's line or host gets a whole /64 and could otherwise count as billions of clients
 * (see `canonical`). Undefined when it is no IP address.
 */
function rationed(a: string): string | undefined {
  const c = canonical(a);
  return c === undefined ? undefined : c.family === 4 ? c.ip : network64(c.ip);
}

/** Whether the peer is a proxy TRUST_PROXY lists ('*' = any), both read in one spelling. */
function trustedPeer(peer: string, trusted: readonly string[]): boolean {
  if (trusted.includes('*')) return true;
  const p = canonical(peer)?.ip ?? peer;
  return trusted.some((t) => t === peer || (canonical(t)?.ip ?? t) === p);
}

/**
 * The address a client is rationed by (see `rationed`): the connection's peer, or, when the peer is a
 * proxy listed in TRUST_PROXY ('*' = any), the rightmost X-Forwarded-For entry: the address that proxy
 * saw (entries to its left come from the client and could be forged).
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: readonly string[]): string {
  const own = rationed(peer) ?? peer;
  if (!forwardedFor || trusted.length === 0 || !trustedPeer(peer, trusted)) return own;
  return rationed(forwardedFor.split(',').at(-1)!.trim()) ?? own;
}

/**
 * The block of networks an address belongs to, for sharing turns rather than rations: an IPv4
 * address's /24 (`198.51.100.0/24`), an IPv6 address's /48 (`2001:db8:7::/48`, a site's usual
 * allocation, 65,536 /64s). Someone holding a whole block would otherwise take a turn per address
 * (each /64 is rationed apart). Anything else is its own block.
 */
export function addressBlock(address: string): string {
  const family = isIP(address);
  if (family === 4) return `${address.slice(0, address.lastIndexOf('.'))}.0/24`;
  if (family !== 6) return address;
  const groups = network64(address).split(':').slice(0, 3);
  return `${groups.join(':')}::/48`;
}
