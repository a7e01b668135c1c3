import type { Bar } from '../domain/bar.ts';
import { decodeBar } from '../store/bar-member.ts';

// The members are the ones redis-bar-store writes: one codec for both.
export { decodeBar, encodeBar } from '../store/bar-member.ts';

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
