import { describe, expect, it } from 'vitest';
import { type FollowerIo, type FollowerSnapshot, MAX_SEEN_EPOCHS, SeriesFollower } from '../../../engine/src/cluster/series-follower.ts';

/** A follower over a scripted driver: what it asks is recorded, answers are the test's. */
function rig() {
  const asks: Array<{ kind: 'snapshot' | 'history'; ticket: number; since?: number }> = [];
  const applied: number[] = [];
  const resets: string[] = [];
  const io: FollowerIo<string> = {
    requestSnapshot: (ticket) => void asks.push({ kind: 'snapshot', ticket }),
    requestHistory: (ticket, _epoch, since) => void asks.push({ kind: 'history', ticket, since }),
    reset: (snap) => void resets.push(`${snap.epoch}/${snap.offset}`),
    apply: (offset) => void applied.push(offset),
  };
  const f = new SeriesFollower(io);
  const snap = (epoch: string, offset: number): FollowerSnapshot<string> => ({ epoch, offset, bars: [], history: [] });
  const lastTicket = () => asks.at(-1)!.ticket;
  return { f, asks, applied, resets, snap, lastTicket };
}

describe('SeriesFollower', () => {
  it("drops a message of an epoch the log left that came before the snapshot was asked for (reproduced: a reload at every answer, 1,000 in a row)", () => {
    const { f, asks, resets, snap, lastTicket } = rig();
    f.start();
    // The old log's message arrives while the first read is in flight; the log then starts over.
    f.onMessage('OLD', 5000, 'old bar');
    f.onSnapshot(lastTicket(), snap('NEW', 1));
    // Taken for a newer epoch's, it reloaded; one reload at most, then live.
    for (let i = 0; i < 5 && asks.at(-1)!.kind === 'snapshot'; i++) f.onSnapshot(lastTicket(), snap('NEW', 1));
    expect(asks.filter((a) => a.kind === 'snapshot').length).toBeLessThanOrEqual(2);
    expect(f.position).toMatchObject({ epoch: 'NEW', offset: 1, phase: 'live' });
    expect(resets.at(-1)).toBe('NEW/1');
    // A message of an epoch it never saw, after the snapshot, still means the log started over.
    f.onMessage('NEWER', 1, 'bar');
    expect(asks.at(-1)!.kind).toBe('snapshot');
  });

  it('drops a late message of an epoch it already left, after the new snapshot came (reproduced: a second read, and a needless `historical` to its clients)', () => {
    const { f, asks, resets, applied, snap, lastTicket } = rig();
    f.start();
    f.onSnapshot(lastTicket(), snap('E1', 5));
    // A resubscribe's repair finds the log started over under E2: reloaded onto it.
    f.onGap();
    f.onHistory(lastTicket(), { ok: false });
    f.onSnapshot(lastTicket(), snap('E2', 1));
    const reads = asks.length;
    // E1's message, published before the switch, handled after the snapshot's answer.
    f.onMessage('E1', 6, 'late');
    expect(asks.length).toBe(reads);
    expect(resets).toEqual(['E1/5', 'E2/1']);
    f.onMessage('E2', 2, 'next');
    expect(applied).toEqual([2]);
    expect(f.position).toMatchObject({ epoch: 'E2', offset: 2, phase: 'live' });
  });

  it('remembers the epochs it left up to a bound, still dropping a late message of the recent ones (it kept one per Redis restart for good)', () => {
    const { f, asks, resets, snap, lastTicket } = rig();
    f.start();
    f.onSnapshot(lastTicket(), snap('E0', 1));
    for (let e = 1; e <= 40; e++) {
      f.onMessage(`E${e}`, 1, 'bar');
      f.onSnapshot(lastTicket(), snap(`E${e}`, 1));
    }
    expect(resets.at(-1)).toBe('E40/1');
    expect(f.epochsLeft).toBe(MAX_SEEN_EPOCHS);
    const reads = asks.length;
    for (let e = 40 - MAX_SEEN_EPOCHS; e < 40; e++) f.onMessage(`E${e}`, 2, 'late');
    expect(asks.length).toBe(reads);
    expect(f.position).toMatchObject({ epoch: 'E40', offset: 1, phase: 'live' });
  });

  it('starts over from a snapshot when a repair brings nothing while a later message waits (the store went back: it asked again without end)', () => {
    const { f, asks, applied, snap, lastTicket } = rig();
    f.start();
    f.onSnapshot(lastTicket(), snap('E', 50));
    // 51 lost in a pub/sub reconnect, 52 delivered; then Redis comes back from a file at E/50.
    f.onMessage('E', 52, 'bar');
    expect(asks.at(-1)).toMatchObject({ kind: 'history', since: 50 });
    f.onHistory(lastTicket(), { ok: true, updates: [] });
    expect(asks.at(-1)!.kind).toBe('snapshot');
    f.onSnapshot(lastTicket(), snap('E', 50));
    expect(f.position).toMatchObject({ epoch: 'E', offset: 50, phase: 'live' });
    // 52 was dropped: the next update of the log applies.
    f.onMessage('E', 51, 'bar');
    expect(applied).toEqual([51]);
  });

  it('a repair that brings what was missing applies it and what waited', () => {
    const { f, applied, snap, lastTicket } = rig();
    f.start();
    f.onSnapshot(lastTicket(), snap('E', 50));
    f.onMessage('E', 52, 'b52');
    f.onHistory(lastTicket(), { ok: true, updates: [{ offset: 51, bar: 'b51' }] });
    expect(applied).toEqual([51, 52]);
    expect(f.position).toMatchObject({ offset: 52, phase: 'live' });
  });

  it('a repair that brings nothing while the next message is held applies it, no snapshot (the history was read before they were written)', () => {
    const { f, asks, applied, snap, lastTicket } = rig();
    f.start();
    f.onSnapshot(lastTicket(), snap('E', 10));
    f.onGap();
    f.onMessage('E', 11, 'b11');
    f.onMessage('E', 12, 'b12');
    f.onHistory(lastTicket(), { ok: true, updates: [] });
    expect(applied).toEqual([11, 12]);
    expect(asks.filter((a) => a.kind === 'snapshot')).toHaveLength(1);
  });
});
