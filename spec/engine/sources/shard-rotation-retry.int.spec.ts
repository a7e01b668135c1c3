import { describe, expect, it } from 'vitest';
import { A, B, untilKlineOfEach, useShardRig } from '../../helpers/shard-rig.ts';
import { until } from '../../helpers/until.ts';

/**
 * A rotation by age whose replacement failed before taking over (refused, cut) was never tried again:
 * its age timer had fired and was re-armed only by a takeover, so the socket ran on to the exchange's
 * 24 h cut, a reconnect and a resync of every series on it. Found by a review. It is now tried again
 * after a backoff, make-before-break as before. The simulator refuses upgrades (503) for a while.
 */
describe('a rotation by age whose replacement is refused', () => {
  const rig = useShardRig();

  it('is tried again after a backoff and completes make-before-break: no disconnect', async () => {
    const r = await rig.start({ initial: [A, B], rotateAfterMs: 1500 });
    await untilKlineOfEach(r.events, [A, B]);
    // The rotation, due 1.5 s after the connect, meets the refusal.
    rig.sim.faults.refuseConnections(3000);
    await until(() => r.logs.some((l) => l.startsWith('upstream refused the connection')), 15_000, 'a replacement refused');
    // Before: no further rotation, the first socket kept for good.
    await until(() => r.logs.some((l) => l.startsWith('upstream connected') && l.includes('"rotation":true')), 20_000, 'a replacement connected');
    await until(() => rig.held().length === 1, 10_000, 'the old socket closed');
    expect(rig.held()).toEqual([[A, B].sort()]);
    expect(r.logs.filter((l) => l.startsWith('rotating upstream connection')).length).toBeGreaterThanOrEqual(2);
    expect(r.events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(r.events.filter((e) => e.type === 'connected')).toHaveLength(1);
    expect(r.malformed).toEqual([]);
  }, 60_000);
});
