import { describe, expect, it } from 'vitest';
import { Hub, STATUS_TOPIC } from '../../../engine/src/broadcast/hub.ts';
import { klineTopic, seriesId } from '../../../engine/src/domain/series-id.ts';

/** A hub whose upstream is live and whose BTCUSDT stream is silent, publishing to a recorder (every topic has one subscriber). */
function silentBtc() {
  const sent: Array<[string, string]> = [];
  const hub = new Hub(10, 'sim');
  hub.attach({ publish: (topic: string, message: string) => (sent.push([topic, (JSON.parse(message) as { upstream: string }).upstream]), true), subscribers: () => 1 });
  hub.setUpstream('live');
  hub.setSeriesStatus([{ id: btc, state: 'stale' }]);
  return { hub, sent };
}
const btc = seriesId('BTCUSDT', '1m');
const eth = seriesId('ETHUSDT', '1m');

describe("the hub's status: the upstream's, and a silent series' own", () => {
  it('tells a silent series stale on its topic, live again when heard; the others read the upstream', () => {
    const { hub, sent } = silentBtc();
    expect(hub.statusFor(btc)).toContain('"stale"');
    expect(hub.statusFor(eth)).toContain('"live"');
    hub.setSeriesStatus([]);
    expect(sent).toEqual([
      [STATUS_TOPIC, 'live'],
      [klineTopic(btc), 'stale'],
      [klineTopic(btc), 'live'],
    ]);
  });

  it('after the upstream comes back live, says a silent series stale again at the next tick (later shards of the status topic go out in later turns)', () => {
    const { hub, sent } = silentBtc();
    hub.setUpstream('reconnecting');
    sent.length = 0;
    hub.setUpstream('live');
    hub.setUpstream('live'); // the next tick
    hub.setUpstream('live'); // and the one after: nothing more
    expect(sent).toEqual([
      [STATUS_TOPIC, 'live'],
      [klineTopic(btc), 'stale'],
      [klineTopic(btc), 'stale'],
    ]);
    expect(hub.statusFor(btc)).toContain('"stale"');
  });

  it("tells a down connection's series reconnecting; a series reads the worse of its own and the upstream's", () => {
    const { hub, sent } = silentBtc();
    sent.length = 0;
    hub.setSeriesStatus([{ id: btc, state: 'stale' }, { id: eth, state: 'reconnecting' }]);
    expect(sent).toEqual([[klineTopic(eth), 'reconnecting']]);
    // The upstream as a whole goes stale: ETHUSDT's clients still read reconnecting (said again on its topic).
    sent.length = 0;
    hub.setUpstream('stale');
    expect(sent).toEqual([
      [STATUS_TOPIC, 'stale'],
      [klineTopic(eth), 'reconnecting'],
    ]);
    expect(hub.statusFor(btc)).toContain('"stale"');
    // Everything down: nothing to say on a series' topic.
    sent.length = 0;
    hub.setUpstream('reconnecting');
    expect(sent).toEqual([[STATUS_TOPIC, 'reconnecting']]);
    hub.setUpstream('live');
    sent.length = 0;
    hub.setSeriesStatus([]);
    expect(sent).toEqual([
      [klineTopic(btc), 'live'],
      [klineTopic(eth), 'live'],
    ]);
  });

  it('says a series going from stale to reconnecting once, with no live between (reproduced: live, then reconnecting)', () => {
    const { hub, sent } = silentBtc();
    sent.length = 0;
    hub.setSeriesStatus([{ id: btc, state: 'reconnecting' }]);
    hub.setSeriesStatus([{ id: btc, state: 'stale' }]);
    expect(sent).toEqual([
      [klineTopic(btc), 'reconnecting'],
      [klineTopic(btc), 'stale'],
    ]);
  });

  it('applies the upstream and the series together: each client hears its final state once (reproduced: reconnecting then live at once; live before stale)', () => {
    const { hub, sent } = silentBtc();
    hub.setStatus('live', [{ id: btc, state: 'reconnecting' }]);
    hub.setUpstream('live'); // the tick after
    // The upstream was reconnecting as a whole, and BTCUSDT's connection is back with it.
    hub.setStatus('reconnecting', [{ id: btc, state: 'reconnecting' }]);
    sent.length = 0;
    hub.setStatus('live', []);
    expect(sent).toEqual([[STATUS_TOPIC, 'live']]);
    // The leader goes missing (stale as a whole) while a series was reconnecting: no `live` in between.
    hub.setStatus('live', [{ id: eth, state: 'reconnecting' }]);
    hub.setUpstream('live');
    sent.length = 0;
    hub.setStatus('stale', []);
    expect(sent).toEqual([[STATUS_TOPIC, 'stale']]);
    expect(hub.statusFor(eth)).toContain('"stale"');
  });
});
