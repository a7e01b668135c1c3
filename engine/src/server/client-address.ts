import { isIP } from 'node:net';

/** An IPv4 peer as uWS may spell it (IPv4-mapped IPv6) in its plain form. */
const plain = (a: string) => a.replace(/^::ffff:/i, '');

/**
 * The address a client is rationed by: the connection's peer, or, when the peer is a proxy listed in
 * TRUST_PROXY ('*' = any), the rightmost X-Forwarded-For entry: the address that proxy saw (entries
 * to its left come from the client and could be forged).
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: readonly string[]): string {
  const p = plain(peer);
  if (!forwardedFor || trusted.length === 0 || !(trusted.includes('*') || trusted.includes(p))) return p;
  const last = plain(forwardedFor.split(',').at(-1)!.trim());
  return isIP(last) ? last : p;
}
