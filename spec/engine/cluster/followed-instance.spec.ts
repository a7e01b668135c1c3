import { describe, expect, it } from 'vitest';
import { Hub } from '../../../engine/src/broadcast/hub.ts';
import { type EdgeSeriesConfig, FollowedInstance } from '../../../engine/src/cluster/edge-series.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { SeriesPoint } from '../../../engine/src/series/define-series.ts';
import type { SeriesRequest } from '../../../engine/src/series/series-registry.ts';

const M = 60_000;
const pt = (minute: number, value: number, closed = true): SeriesPoint => ({ time: minute * M, value, closed });

/** An edge's instance on a real hub whose publisher records what its clients would get. */
function rig() {
  const hub = new Hub(100, 'sim');
  const sent: Array<{ time: number; value: number }> = [];
  hub.attach({ subscribers: () => 1, publish: (_t, m) => (sent.push(JSON.parse(m) as { time: number; value: number }), true) });
  const cfg = { bufferSize: 10, hub, positions: { position: () => undefined } } as unknown as EdgeSeriesConfig;
  const inst = new FollowedInstance({ label: 'rsi' } as SeriesRequest, seriesId('BTCUSDT', '1m'), cfg);
  // A client follows it (the WebSocket route does this as it subscribes one).
  hub.follow(inst.topic);
  return { inst, sent: () => sent.map((m) => [m.time / M, m.value]) };
}

describe("an edge's followed derived-series instance", () => {
  it('sends every point of the log that changes what clients hold: newer, the newest again with other values, and a correction older than the newest', () => {
    const { inst, sent } = rig();
    inst.reset([pt(1, 10), pt(2, 20), pt(3, 30)], false);
    expect(sent()).toEqual([]);
    inst.apply(pt(4, 40, false));
    inst.apply(pt(4, 40, false));
    inst.apply(pt(4, 41));
    // A repair on the leader: a point in a hole it filled, a corrected one, and one unchanged.
    inst.apply(pt(2, 21));
    inst.apply(pt(3, 30));
    expect(sent()).toEqual([
      [4, 40],
      [4, 41],
      [2, 21],
    ]);
  });

  it('after a reload (a hole in the offsets its history no longer covers), sends the points that differ from what it held', () => {
    const { inst, sent } = rig();
    inst.reset([pt(1, 10), pt(2, 20), pt(4, 40)], false);
    // Meanwhile the leader repaired 3, corrected 4 and computed 5.
    inst.reset([pt(1, 10), pt(2, 20), pt(3, 30), pt(4, 41), pt(5, 50), { status: 'live' }], true);
    expect(sent()).toEqual([
      [3, 30],
      [4, 41],
      [5, 50],
    ]);
    expect(inst.window.last(10).map((p) => p.time / M)).toEqual([1, 2, 3, 4, 5]);
  });
});
