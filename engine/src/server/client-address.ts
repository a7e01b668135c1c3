import { isIP } from 'node:net';

/** An IPv4 peer as uWS may spell it (IPv4-mapped IPv6) in its plain form. */
const plain = (a: string) => a.replace(/^::ffff:/i, '');

/** The two 16-bit groups of a dotted IPv4 tail of an IPv6 address, in hex. */
const v4Groups = (dotted: string) => {
  const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
};

/** The first address of a valid IPv6 address's /64 network, e.g. `2001:db8:0:7::`. */
function network64(a: string): string {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').flatMap((g) => (g.includes('.') ? v4Groups(g) : [g])) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::`;
}

/**
 * What a client is rationed as: an IPv4 address as it is; an IPv6 address without its zone id
 * (`%eth0`: any text Node's isIP accepts, so a forged header could make a key of any length) and as
 * its /64 network, since one subscriber's line or host gets a whole /64 and could otherwise count as
 * billions of clients. Undefined when it is no IP address.
 */
function rationed(a: string): string | undefined {
  const bare = plain(a);
  const zone = bare.indexOf('%');
  const ip = zone < 0 ? bare : bare.slice(0, zone);
  const family = isIP(ip);
  return family === 4 ? ip : family === 6 ? network64(ip) : undefined;
}

/**
 * The address a client is rationed by (see `rationed`): the connection's peer, or, when the peer is a
 * proxy listed in TRUST_PROXY ('*' = any), the rightmost X-Forwarded-For entry: the address that proxy
 * saw (entries to its left come from the client and could be forged).
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: readonly string[]): string {
  const p = plain(peer);
  const own = rationed(p) ?? p;
  if (!forwardedFor || trusted.length === 0 || !(trusted.includes('*') || trusted.includes(p))) return own;
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
