import { describe, expect, it } from 'vitest';
import { ReconnectScout } from '../../../engine/src/sources/reconnect-scout.ts';

/** Each shard's wakes, in order. */
function shards() {
  const woken: string[] = [];
  const wake = (name: string) => () => woken.push(name);
  return { woken, wake };
}

describe('ReconnectScout', () => {
  it('lets the first shard down scout and parks the rest until a socket opens', () => {
    const s = new ReconnectScout<string>();
    const { woken, wake } = shards();
    expect(s.down('a', wake('a'))).toBe(true);
    expect(s.down('b', wake('b'))).toBe(false);
    expect(s.down('c', wake('c'))).toBe(false);
    // The scout fails again: it keeps scouting, nobody is woken.
    expect(s.down('a', wake('a'))).toBe(true);
    expect(woken).toEqual([]);
    expect(s.waiting).toBe(2);
    s.reached('a');
    expect(woken).toEqual(['b', 'c']);
    expect(s.waiting).toBe(0);
  });

  it('wakes the parked when any shard opens, and the next one down scouts anew', () => {
    const s = new ReconnectScout<string>();
    const { woken, wake } = shards();
    s.down('a', wake('a'));
    s.down('b', wake('b'));
    // A third shard, never down, rotates its socket: the exchange is reachable.
    s.reached('c');
    expect(woken).toEqual(['b']);
    // 'a' still scouts until its own socket opens.
    expect(s.down('b', wake('b'))).toBe(false);
    s.reached('a');
    expect(woken).toEqual(['b', 'b']);
    expect(s.down('b', wake('b'))).toBe(true);
  });

  it('hands the task on when the scout stops, and forgets a parked shard that stops', () => {
    const s = new ReconnectScout<string>();
    const { woken, wake } = shards();
    s.down('a', wake('a'));
    s.down('b', wake('b'));
    s.down('c', wake('c'));
    s.left('c');
    expect(s.waiting).toBe(1);
    s.left('a');
    expect(woken).toEqual(['b']);
    expect(s.down('b', wake('b'))).toBe(true);
  });
});
