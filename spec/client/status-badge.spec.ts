import { describe, expect, it } from 'vitest';
import { type StatusBadge, statusBadge } from '../../client/src/status-badge.ts';
import type { MarketState } from '../../client/src/store/market.ts';

type Step = [MarketState['connection'], MarketState['upstream']];

/** The badge's texts through a sequence of states, each computed from the one before (as App's memo does). */
const texts = (steps: Step[]) => {
  let previous: StatusBadge | undefined;
  return steps.map(([c, u]) => (previous = statusBadge(c, u, previous)).text);
};

describe('statusBadge', () => {
  it('keeps saying reconnecting between a resumed socket\'s first message and its status (reproduced: live for a moment during an outage)', () => {
    expect(texts([['live', 'live'], ['reconnecting', 'unknown'], ['live', 'unknown'], ['live', 'reconnecting']])).toEqual(['live', 'reconnecting', 'reconnecting', 'reconnecting']);
    expect(texts([['live', 'live'], ['reconnecting', 'unknown'], ['live', 'unknown'], ['live', 'live']])).toEqual(['live', 'reconnecting', 'reconnecting', 'live']);
  });

  it('says connecting on a first connection until the engine says its state', () => {
    expect(texts([['connecting', 'unknown'], ['live', 'unknown'], ['live', 'stale']])).toEqual(['connecting', 'connecting', 'stale']);
    expect(texts([['connecting', 'unknown'], ['live', 'unknown'], ['live', 'ended']])).toEqual(['connecting', 'connecting', 'replay ended']);
  });

  it('reads the view\'s own state first, then the engine\'s', () => {
    expect(statusBadge('error', 'live')).toEqual({ text: 'error', cls: 'bad' });
    expect(statusBadge('loading', 'live')).toEqual({ text: 'loading', cls: 'warn' });
    expect(statusBadge('stale', 'live')).toEqual({ text: 'stale', cls: 'warn' });
    expect(statusBadge('live', 'reconnecting')).toEqual({ text: 'reconnecting', cls: 'warn' });
    expect(statusBadge('stale', 'ended')).toEqual({ text: 'replay ended', cls: 'ok' });
    // A stale view once live: the engine's state unknown changes nothing it said.
    expect(texts([['live', 'live'], ['stale', 'live'], ['live', 'live']])).toEqual(['live', 'stale', 'live']);
  });
});
