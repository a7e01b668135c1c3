import { expect } from 'vitest';
import { lastStatus as last, statuses, statusSuites } from '../../helpers/status-suites.ts';

/**
 * A stream the exchange acknowledged and then sends nothing on, while its connection delivers the
 * others: its chart froze and every client read `live` (an attacker-style probe: 242 s). Now the
 * clients of that series alone are told `stale` (on its topic, and in the status a new client gets),
 * and `live` again once it is heard; the other series' clients stay `live`. In ROLE=all and through
 * an edge of a cluster (the leader writes the silent series to Redis beside its upstream state).
 */
await statusSuites(
  {
    title: 'a silent stream',
    it: "tells that series' clients stale, the others live, and live again once it is heard",
    common: { symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1s'], bufferSize: 100, seriesDir: '' },
    simOptions: { symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 250 },
  },
  async ({ sim, open }) => {
    const btc = open('/ws/BTCUSDT?interval=1s');
    const eth = open('/ws/ETHUSDT?interval=1s');
    await btc.until((c) => last(c) === 'live', 15_000, 'BTCUSDT live');
    await eth.until((c) => last(c) === 'live', 15_000, 'ETHUSDT live');
    sim.faults.muteStream('btcusdt@kline_1s');
    // A 1s stream is silent past its interval plus 10 s: its series' clients are told.
    await btc.until((c) => last(c) === 'stale', 25_000, 'BTCUSDT told stale');
    expect(statuses(eth).slice(1)).not.toContain('stale');
    expect(last(eth)).toBe('live');
    // A client arriving meanwhile is told at once.
    const late = open('/ws/BTCUSDT?interval=1s');
    await late.until((c) => statuses(c).length > 0, 10_000, 'a status for the late client');
    expect(statuses(late)[0]).toBe('stale');
    sim.faults.muteStream('btcusdt@kline_1s', false);
    await btc.until((c) => last(c) === 'live', 25_000, 'BTCUSDT live again');
    await late.until((c) => last(c) === 'live', 5000, 'the late client live again');
  },
);
