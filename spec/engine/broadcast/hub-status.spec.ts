import { describe, expect, it } from 'vitest';
import { Hub, type SeriesStatus, STATUS_REPEAT_MS, STATUS_TOPIC, type UpstreamState } from '../../../engine/src/broadcast/hub.ts';
import { klineTopic, seriesId } from '../../../engine/src/domain/series-id.ts';

/** A hub whose upstream is live and whose BTCUSDT stream is silent, publishing to a recorder (every topic has one subscriber). */
function silentBtc() {
  const sent: Array<[string, string]> = [];
  const hub = new Hub(10, 'sim');
  hub.attach({ publish: (topic: string, message: string) => (sent.push([topic, (JSON.parse(message) as { upstream: string }).upstream]), true), subscribers: () => 1 });
  const st = ticks(hub);
  st.upstream('live');
  st.series([{ id: btc, state: 'stale' }]);
  return { hub, sent, st };
}

/** Status ticks as the engine makes them (Hub.setStatus), one part changed at a time. */
function ticks(hub: Hub) {
  let state: UpstreamState = 'reconnecting';
  let list: SeriesStatus[] = [];
  const both = (s: UpstreamState, l: SeriesStatus[]) => hub.setStatus((state = s), (list = l));
  return { both, upstream: (s: UpstreamState) => both(s, list), series: (l: SeriesStatus[]) => both(state, l) };
}
const btc = seriesId('BTCUSDT', '1m');
const eth = seriesId('ETHUSDT', '1m');

describe("the hub's status: the upstream's, and a silent series' own", () => {
  it('tells a silent series stale on its topic, live again when heard; the others read the upstream', () => {
    const { hub, sent, st } = silentBtc();
    expect(hub.statusFor(btc)).toContain('"stale"');
    expect(hub.statusFor(eth)).toContain('"live"');
    st.series([]);
    expect(sent).toEqual([
      [STATUS_TOPIC, 'live'],
      [klineTopic(btc), 'stale'],
      [klineTopic(btc), 'live'],
    ]);
  });

  it('after the upstream comes back live, says a silent series stale again at the next tick (later shards of the status topic go out in later turns)', () => {
    const { hub, sent, st } = silentBtc();
    st.upstream('reconnecting');
    sent.length = 0;
    st.upstream('live');
    st.upstream('live'); // the next tick
    st.upstream('live'); // and the one after: nothing more
    expect(sent).toEqual([
      [STATUS_TOPIC, 'live'],
      [klineTopic(btc), 'stale'],
      [klineTopic(btc), 'stale'],
    ]);
    expect(hub.statusFor(btc)).toContain('"stale"');
  });

  it("tells a down connection's series reconnecting; a series reads the worse of its own and the upstream's", () => {
    const { hub, sent, st } = silentBtc();
    sent.length = 0;
    st.series([{ id: btc, state: 'stale' }, { id: eth, state: 'reconnecting' }]);
    expect(sent).toEqual([[klineTopic(eth), 'reconnecting']]);
    // The upstream as a whole goes stale: ETHUSDT's clients still read reconnecting (said again on its topic).
    sent.length = 0;
    st.upstream('stale');
    expect(sent).toEqual([
      [STATUS_TOPIC, 'stale'],
      [klineTopic(eth), 'reconnecting'],
    ]);
    expect(hub.statusFor(btc)).toContain('"stale"');
    // Everything down: nothing to say on a series' topic.
    sent.length = 0;
    st.upstream('reconnecting');
    expect(sent).toEqual([[STATUS_TOPIC, 'reconnecting']]);
    st.upstream('live');
    sent.length = 0;
    st.series([]);
    expect(sent).toEqual([
      [klineTopic(btc), 'live'],
      [klineTopic(eth), 'live'],
    ]);
  });

  it('says a series going from stale to reconnecting once, with no live between (reproduced: live, then reconnecting)', () => {
    const { sent, st } = silentBtc();
    sent.length = 0;
    st.series([{ id: btc, state: 'reconnecting' }]);
    st.series([{ id: btc, state: 'stale' }]);
    expect(sent).toEqual([
      [klineTopic(btc), 'reconnecting'],
      [klineTopic(btc), 'stale'],
    ]);
  });

  it('applies the upstream and the series together: each client hears its final state once (reproduced: reconnecting then live at once; live before stale)', () => {
    const { hub, sent, st } = silentBtc();
    st.both('live', [{ id: btc, state: 'reconnecting' }]);
    st.upstream('live'); // the tick after
    // The upstream was reconnecting as a whole, and BTCUSDT's connection is back with it.
    st.both('reconnecting', [{ id: btc, state: 'reconnecting' }]);
    sent.length = 0;
    st.both('live', []);
    expect(sent).toEqual([[STATUS_TOPIC, 'live']]);
    // The leader goes missing (stale as a whole) while a series was reconnecting: no `live` in between.
    st.both('live', [{ id: eth, state: 'reconnecting' }]);
    st.upstream('live');
    sent.length = 0;
    st.both('stale', []);
    expect(sent).toEqual([[STATUS_TOPIC, 'stale']]);
    expect(hub.statusFor(eth)).toContain('"stale"');
  });

  it('says what is not live again every STATUS_REPEAT_MS, to the clients it concerns, and nothing while all is live (a quiet socket is told it is alive)', () => {
    let clock = 0;
    const sent: Array<[string, string]> = [];
    const hub = new Hub(10, 'sim', undefined, () => clock);
    hub.attach({ publish: (topic: string, message: string) => (sent.push([topic, (JSON.parse(message) as { upstream: string }).upstream]), true), subscribers: () => 1 });
    const st = ticks(hub);
    const tickFor = (ms: number) => {
      for (const end = clock + ms; clock < end; ) {
        clock += 1000;
        st.both(...current);
      }
    };
    let current: [UpstreamState, SeriesStatus[]] = ['live', []];
    st.both(...current);
    sent.length = 0;
    tickFor(3 * STATUS_REPEAT_MS);
    expect(sent).toEqual([]);
    // One series silent, the upstream live: that series' clients alone hear it again.
    current = ['live', [{ id: btc, state: 'stale' }]];
    st.both(...current);
    expect(sent).toEqual([[klineTopic(btc), 'stale']]);
    sent.length = 0;
    tickFor(2 * STATUS_REPEAT_MS);
    expect(sent).toEqual([
      [klineTopic(btc), 'stale'],
      [klineTopic(btc), 'stale'],
    ]);
    // The whole upstream down: everyone hears it again, and a series worse than it (none here) its own.
    current = ['reconnecting', []];
    st.both(...current);
    sent.length = 0;
    tickFor(STATUS_REPEAT_MS - 1000);
    expect(sent).toEqual([]);
    tickFor(1000);
    expect(sent).toEqual([[STATUS_TOPIC, 'reconnecting']]);
    // Back to live: said once, then quiet again.
    current = ['live', []];
    sent.length = 0;
    tickFor(3 * STATUS_REPEAT_MS);
    expect(sent).toEqual([[STATUS_TOPIC, 'live']]);
  });
});
