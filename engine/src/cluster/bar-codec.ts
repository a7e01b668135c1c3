import type { Bar } from '../domain/bar.ts';
import { decodeBar } from '../store/bar-member.ts';

// The members are the ones redis-bar-store writes: one codec for both.
export { decodeBar, encodeBar } from '../store/bar-member.ts';

/** One published update: `epoch offset member` (channel) or `offset at member` (history); `bar` is a derived series' point in an instance's log. */
export interface Update<T = Bar> {
  readonly offset: number;
  readonly bar: T;
}

/** Splits `a b member` into its two leading words and the bar (or what `decode` makes of the member); undefined when malformed. */
export function splitEntry(text: string): { first: string; second: string; bar: Bar } | undefined;
export function splitEntry<T>(text: string, decode: (member: string) => T | undefined): { first: string; second: string; bar: T } | undefined;
export function splitEntry(text: string, decode: (member: string) => unknown = decodeBar): { first: string; second: string; bar: unknown } | undefined {
  const i = text.indexOf(' ');
  const j = i < 0 ? -1 : text.indexOf(' ', i + 1);
  if (j < 0) return undefined;
  const bar = decode(text.slice(j + 1));
  return bar ? { first: text.slice(0, i), second: text.slice(i + 1, j), bar } : undefined;
}
