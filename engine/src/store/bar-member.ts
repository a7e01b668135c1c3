import type { Bar } from '../domain/bar.ts';

/** A bar as a Redis sorted-set member, the compact form every writer uses: [t,o,h,l,c,v,closed]. */
export function encodeBar(b: Bar): string {
  return JSON.stringify([b.openTime, b.open, b.high, b.low, b.close, b.volume, b.closed ? 1 : 0]);
}

/**
 * Longest member read as a bar: seven JSON numbers are at most ~170 characters. A longer one is no
 * bar the engine wrote (a 1 MB member padded with spaces was parsed and sent to clients: a Redis-fault review).
 */
const MAX_MEMBER = 512;

/** Decodes a member; undefined for anything that is not a valid bar (counted and skipped by callers). */
export function decodeBar(member: string): Bar | undefined {
  if (member.length > MAX_MEMBER) return undefined;
  try {
    const a = JSON.parse(member) as unknown;
    if (!Array.isArray(a) || a.length !== 7 || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) return undefined;
    const [openTime, open, high, low, close, volume, closed] = a as number[];
    return { openTime: openTime!, open: open!, high: high!, low: low!, close: close!, volume: volume!, closed: closed === 1 };
  } catch {
    return undefined;
  }
}
