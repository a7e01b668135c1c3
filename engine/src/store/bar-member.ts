import type { Bar } from '../domain/bar.ts';

/** A bar as a Redis sorted-set member, the compact form every writer uses: [t,o,h,l,c,v,closed]. */
export function encodeBar(b: Bar): string {
  return JSON.stringify([b.openTime, b.open, b.high, b.low, b.close, b.volume, b.closed ? 1 : 0]);
}

/** Decodes a member; undefined for anything that is not a valid bar (counted and skipped by callers). */
export function decodeBar(member: string): Bar | undefined {
  try {
    const a = JSON.parse(member) as unknown;
    if (!Array.isArray(a) || a.length !== 7 || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) return undefined;
    const [openTime, open, high, low, close, volume, closed] = a as number[];
    return { openTime: openTime!, open: open!, high: high!, low: low!, close: close!, volume: volume!, closed: closed === 1 };
  } catch {
    return undefined;
  }
}
