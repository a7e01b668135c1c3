import type { Bar } from '../domain/bar.ts';

/** A bar as a Redis member, the same compact form redis-bar-store writes: [t,o,h,l,c,v,closed]. */
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

/** One published update: `epoch offset member` (channel) or `offset at member` (history). */
export interface Update {
  readonly offset: number;
  readonly bar: Bar;
}

/** Splits `a b member` into its two leading words and the bar; undefined when malformed. */
export function splitEntry(text: string): { first: string; second: string; bar: Bar } | undefined {
  const i = text.indexOf(' ');
  const j = i < 0 ? -1 : text.indexOf(' ', i + 1);
  if (j < 0) return undefined;
  const bar = decodeBar(text.slice(j + 1));
  return bar ? { first: text.slice(0, i), second: text.slice(i + 1, j), bar } : undefined;
}
