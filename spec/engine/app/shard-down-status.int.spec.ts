import { expect } from 'vitest';
import { lastStatus as last, type StatusScene, statuses, statusSuites } from '../../helpers/status-suites.ts';

/**
 * The whole exchange rides on a few upstream connections (1,024 streams each). When one dropped and
 * could not come back, every chart was told `reconnecting`, those whose series came on the others
 * too. Now only the clients of the down connection's series are, and `live` again once it is back;
 * the rest stay `live`. Likewise `stale` for a connection the exchange keeps open and sends nothing
 * on. One stream per connection here, so BTCUSDT and ETHUSDT ride on two.
 */
const common = { symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1s'], bufferSize: 100, seriesDir: '', streamsPerConnection: 1 };
const simOptions = { symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 250 };

/** Both series live; returns their clients and how many statuses ETHUSDT's had heard by then. */
async function bothLive({ open }: StatusScene) {
  const btc = open('/ws/BTCUSDT?interval=1s');
  const eth = open('/ws/ETHUSDT?interval=1s');
  await btc.until((c) => last(c) === 'live', 15_000, 'BTCUSDT live');
  await eth.until((c) => last(c) === 'live', 15_000, 'ETHUSDT live');
  return { btc, eth, ethSaid: statuses(eth).length };
}

await statusSuites(
  { title: 'one upstream connection down', it: "tells that connection's series' clients reconnecting, the others live, and live again once it is back", common, simOptions },
  async (scene) => {
    const { sim, open } = scene;
    const { btc, eth, ethSaid } = await bothLive(scene);
    expect(sim.subscriptions().length).toBe(2);
    // BTCUSDT's connection drops and the exchange refuses new ones for a while: ETHUSDT's stays up.
    sim.faults.refuseConnections(6000);
    sim.faults.dropConnections('btcusdt@kline_1s');
    await btc.until((c) => last(c) === 'reconnecting', 10_000, 'BTCUSDT told reconnecting');
    // A client arriving meanwhile is told at once.
    const late = open('/ws/BTCUSDT?interval=1s');
    await late.until((c) => statuses(c).length > 0, 10_000, 'a status for the late client');
    expect(statuses(late)[0]).toBe('reconnecting');
    await btc.until((c) => last(c) === 'live', 30_000, 'BTCUSDT live again');
    await late.until((c) => last(c) === 'live', 5000, 'the late client live again');
    expect(statuses(eth).slice(ethSaid)).toEqual([]);
    expect(last(eth)).toBe('live');
  },
);

await statusSuites(
  {
    title: 'one upstream connection open but silent as a whole',
    it: "tells that connection's series' clients stale, through its replacements as silent (reproduced: live), the others live",
    common: { ...common, staleAfterMs: 3000 },
    simOptions,
    edge: false,
    timeoutMs: 120_000,
  },
  async (scene) => {
    const { sim, metric } = scene;
    const { btc, eth, ethSaid } = await bothLive(scene);
    // The exchange keeps BTCUSDT's socket (and each one replacing it) open and sends nothing on it.
    sim.faults.muteStream('btcusdt@kline_1s');
    await btc.until((c) => last(c) === 'stale', 30_000, 'BTCUSDT told stale');
    const staleAt = statuses(btc).length - 1;
    // Still stale after the engine replaced the silent socket twice (it does after 3 s of silence),
    // never `live` meanwhile (reproduced: live for the first seconds of each replacement).
    const replaced = metric('engine_upstream_reconnects_total');
    await btc.until((c) => metric('engine_upstream_reconnects_total') >= replaced + 2 && last(c) === 'stale', 45_000, 'stale again after two replacements');
    expect(statuses(btc).slice(staleAt).filter((x) => x === 'live')).toEqual([]);
    sim.faults.muteStream('btcusdt@kline_1s', false);
    await btc.until((c) => last(c) === 'live', 30_000, 'BTCUSDT live again');
    expect(statuses(eth).slice(ethSaid)).toEqual([]);
  },
);
