import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { behindMs, connectEngine, DEAD_SOCKET_MS, LAG_REOPEN_JITTER_MS, MAX_RETRY_MS, OFFLINE_RETRY_MS, QUIET_SOCKET_MS, REFUSED_RETRY_MS, STABLE_MS, STOPPED_SYMBOL_RETRY_MS } from '../../../client/src/feed/engine-socket.ts';
import { STATUS_REPEAT_MS } from '../../../engine/src/broadcast/hub.ts';
import { market } from '../../../client/src/store/market.ts';
import { type StatusBadge, statusBadge } from '../../../client/src/status-badge.ts';
import { FakeSocket, listeners, setUpFakeEngine, tearDownFakeEngine } from '../../helpers/fake-engine-socket.ts';

const candle = { time: 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, is_closed: false };
const historical = JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle] });

let stop: (() => void) | undefined;
const connect = () => (stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine' }));
const gaps = () => FakeSocket.made.slice(1).map((s, i) => s.at - FakeSocket.made[i]!.at);

beforeEach(setUpFakeEngine);

afterEach(() => {
  stop?.();
  stop = undefined;
  tearDownFakeEngine();
});

describe('connectEngine reconnects', () => {
  it('backs off exponentially from a server that closes right after its snapshot (no 100 ms storm), resuming each time', async () => {
    FakeSocket.serve = (ws) => {
      ws.send(historical);
      setTimeout(() => ws.drop(1013), 10);
    };
    connect();
    await vi.advanceTimersByTimeAsync(20_000);
    // 100, 200, 400, 800 ms, then the cap: about 20 connections in 20 s, not 200.
    expect(gaps().slice(0, 6)).toEqual([110, 210, 410, 810, 1010, 1010]);
    expect(FakeSocket.made.length).toBeLessThan(25);
    expect(FakeSocket.made[0]!.url).not.toContain('epoch=');
    for (const s of FakeSocket.made.slice(1)) expect(s.url).toContain('&epoch=e1&since=5');
  });

  it.each([1008, 1013])('backs off the same way when the close (%i) comes with an error after the snapshot', async (code) => {
    FakeSocket.serve = (ws) => {
      ws.send(historical);
      ws.send(JSON.stringify({ type: 'error', code: 'too_many_connections', message: 'too many connections' }));
      ws.drop(code);
    };
    connect();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.made.length).toBeLessThan(25);
    expect(market.getState().connection).toBe('reconnecting');
  });

  it('starts the backoff over once a connection stayed up STABLE_MS', async () => {
    let n = 0;
    FakeSocket.serve = (ws) => {
      ws.send(historical);
      // Five quick failures, then one that lasts, then another quick one.
      if (++n === 6) setTimeout(() => ws.drop(1006), STABLE_MS);
      else ws.drop(1006);
    };
    connect();
    await vi.advanceTimersByTimeAsync(STABLE_MS + 3000);
    expect(gaps().slice(0, 7)).toEqual([100, 200, 400, 800, MAX_RETRY_MS, STABLE_MS + 100, 200]);
  });

  it('a fresh view starts from a snapshot even when its first connection fails; later ones resume', async () => {
    // A position left in the store by an earlier view of this series.
    market.setState({ positionByKey: { 'BTCUSDT:1m': { epoch: 'old', offset: 99 } } });
    let n = 0;
    FakeSocket.serve = (ws) => {
      if (++n === 1) return ws.drop(1006);
      ws.send(historical);
      if (n === 2) ws.drop(1006);
    };
    connect();
    await vi.advanceTimersByTimeAsync(2000);
    expect(FakeSocket.made.map((s) => s.url)).toEqual(['ws://engine/ws/BTCUSDT?interval=1m', 'ws://engine/ws/BTCUSDT?interval=1m', 'ws://engine/ws/BTCUSDT?interval=1m&epoch=e1&since=5']);
    expect(market.getState().connection).toBe('live');
  });
});

describe('connectEngine resumes with derived series', () => {
  it("takes a resume's seriesStatus as historical's: a series that failed while away shows failed, one running again clears (reproduced: a resumed chart never learned)", async () => {
    const rsi = [{ time: 60_000, value: 1, is_closed: false }];
    const recovered = (seriesStatus?: object) => JSON.stringify({ type: 'recovered', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 6, data: [candle], series: { rsi }, ...(seriesStatus ? { seriesStatus } : {}) });
    const firsts = [
      JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle], series: { rsi } }),
      recovered({ rsi: { state: 'failed', error: 'dead since t+20s' } }),
      recovered(),
    ];
    let n = 0;
    FakeSocket.serve = (ws) => {
      ws.send(firsts[n++]!);
      if (n < firsts.length) ws.drop(1006);
    };
    const statuses: unknown[] = [];
    const unsub = market.subscribe((s) => statuses.push(s.seriesStatus['rsi|BTCUSDT:1m']));
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi'] });
    await vi.advanceTimersByTimeAsync(2000);
    unsub();
    expect(FakeSocket.made.map((s) => s.url.includes('&epoch=e1'))).toEqual([false, true, true]);
    expect(statuses).toContainEqual({ state: 'failed', error: 'dead since t+20s' });
    expect(market.getState().seriesStatus['rsi|BTCUSDT:1m']).toBeUndefined();
  });
});

describe('connectEngine and a first message it cannot take', () => {
  it('drops the socket and asks for a snapshot again, after the backoff (reproduced: the hole kept, the badge on reconnecting for good)', async () => {
    const firsts = [
      JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle] }),
      // One bad candle (a NaN became null): the whole message is refused.
      JSON.stringify({ type: 'recovered', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 9, data: [{ ...candle, volume: null }] }),
      JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 9, data: [candle] }),
    ];
    let n = 0;
    FakeSocket.serve = (ws) => {
      ws.send(firsts[Math.min(n, 2)]!);
      if (n++ === 0) ws.drop(1006);
    };
    connect();
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeSocket.made).toHaveLength(3);
    expect(FakeSocket.made[1]!.url).toContain('&epoch=e1&since=5');
    expect(FakeSocket.made[2]!.url).not.toContain('epoch=');
    expect(market.getState().connection).toBe('live');
    expect(market.getState().positionByKey['BTCUSDT:1m']).toEqual({ epoch: 'e1', offset: 9 });
  });
});

describe('connectEngine and a snapshot behind what it held', () => {
  it('takes the position of a historical, even an older one (an edge behind the client): the next resume asks from it (reproduced: it kept the later one, and the updates in between never came)', async () => {
    const bar = (close: number) => ({ time: 60_000, open: 1, high: 20, low: 0.5, close, volume: 3, is_closed: false });
    const firsts = [
      { type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 100, data: [bar(10)] },
      // An edge behind (at 90): the resume refused, its snapshot holds the bar as of 90.
      { type: 'historical', recovered: false, symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 90, data: [bar(9)] },
      { type: 'recovered', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 110, data: [] },
    ];
    let n = 0;
    FakeSocket.serve = (ws) => {
      const m = firsts[n++];
      if (m) ws.send(JSON.stringify(m));
      if (n < 3) ws.drop(1006);
    };
    connect();
    await vi.advanceTimersByTimeAsync(3000);
    expect(FakeSocket.made[1]!.url).toContain('&epoch=e1&since=100');
    expect(FakeSocket.made[2]!.url).toContain('&epoch=e1&since=90');
  });
});

describe('connectEngine: a derived series refused at a cap', () => {
  it('asks again (a fresh snapshot, its history with it) after the time its status names; one refused for good (no time) is not asked again (reproduced: the whole socket was refused, then: never asked again; then: a resume brought none of its history)', async () => {
    const rsi = [{ time: 60_000, value: 1, is_closed: false }];
    const busy = { state: 'failed', error: "at most 4 parameter variants of 'rsi' on BTCUSDT 1m from one address", retryAfterSec: 30 };
    const warmup = { state: 'failed', error: 'needs 86400 bars of warm-up' };
    const firsts = [
      JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle], series: { rsi: [], 'session-vwap': [] }, seriesStatus: { rsi: busy, 'session-vwap': warmup } }),
      JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle], series: { rsi, 'session-vwap': [] }, seriesStatus: { 'session-vwap': warmup } }),
    ];
    let n = 0;
    FakeSocket.serve = (ws) => ws.send(firsts[Math.min(n++, firsts.length - 1)]!);
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi', 'session-vwap'] });
    await vi.advanceTimersByTimeAsync(10);
    expect(market.getState().seriesStatus['rsi|BTCUSDT:1m']).toMatchObject({ state: 'failed', retryAfterSec: 30 });
    expect(market.getState().connection).toBe('live');
    // Math.random is 1: 30 s and a quarter.
    await vi.advanceTimersByTimeAsync(37_000);
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[1]!.url).not.toContain('epoch=');
    await vi.advanceTimersByTimeAsync(10);
    expect(market.getState().seriesStatus['rsi|BTCUSDT:1m']).toBeUndefined();
    expect(market.getState().seriesPoints['rsi|BTCUSDT:1m']?.size).toBe(1);
    expect(market.getState().seriesStatus['session-vwap|BTCUSDT:1m']).toMatchObject({ state: 'failed' });
    // The warm-up refusal names no time: not asked again; a later drop resumes as usual.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.made).toHaveLength(2);
    FakeSocket.made[1]!.drop(1006);
    await vi.advanceTimersByTimeAsync(2000);
    expect(FakeSocket.made.at(-1)!.url).toContain('&epoch=e1&since=5');
  });

  it('a retry due while the socket is closed and a wait the server named runs (its symbol stopped trading) opens no second socket; the next one asks for the snapshot (reproduced: two sockets, one never closed)', async () => {
    const busy = { state: 'failed', error: 'cap', retryAfterSec: 30 };
    const hist = JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle], series: { rsi: [] }, seriesStatus: { rsi: busy } });
    let n = 0;
    FakeSocket.serve = (ws) => {
      ws.send(hist);
      // The first one: a second later its symbol stops trading (the client waits 60 s and a quarter).
      if (n++ === 0)
        setTimeout(() => {
          ws.send(JSON.stringify({ type: 'error', code: 'symbol_not_trading', message: 'BTCUSDT is not trading' }));
          ws.drop(4000);
        }, 1000);
    };
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi'] });
    await vi.advanceTimersByTimeAsync(1010);
    expect(FakeSocket.made).toHaveLength(1);
    // The series retry (37.5 s) falls in the 75 s wait: nothing opens until the wait is over.
    await vi.advanceTimersByTimeAsync(70_000);
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[1]!.url).not.toContain('epoch=');
    expect(FakeSocket.made.filter((w) => w.readyState === 1)).toHaveLength(1);
    stop();
    stop = undefined;
    expect(FakeSocket.made.filter((w) => w.readyState === 1)).toHaveLength(0);
  });

  it('waits twice as long each time it is refused again, up to 10 minutes (reproduced: a snapshot reloading the chart every 37 s for as long as the cap held, 107 an hour)', async () => {
    const busy = { state: 'failed', error: 'cap', retryAfterSec: 30 };
    FakeSocket.serve = (ws) => ws.send(JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle], series: { rsi: [] }, seriesStatus: { rsi: busy } }));
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi'] });
    await vi.advanceTimersByTimeAsync(3_600_000);
    // 37.5 s, 75, 150, 300, 600, then every 600 s (Math.random is 1: a quarter more each): 10 in an hour, not 96.
    const made = FakeSocket.made.length;
    expect(made).toBeGreaterThanOrEqual(8);
    expect(made).toBeLessThanOrEqual(12);
    const gapsS = gaps().map((g) => Math.round(g / 1000));
    expect(gapsS.slice(0, 5)).toEqual([38, 75, 150, 300, 600]);
    expect(Math.max(...gapsS)).toBe(750);
  });

  it('a reconnect for another reason before the retry is due leaves no retry behind that would drop the new socket', async () => {
    const busy = { state: 'failed', error: 'cap', retryAfterSec: 30 };
    const firsts = [
      JSON.stringify({ type: 'historical', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [candle], series: { rsi: [] }, seriesStatus: { rsi: busy } }),
      JSON.stringify({ type: 'recovered', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [], series: { rsi: [] } }),
    ];
    let n = 0;
    FakeSocket.serve = (ws) => ws.send(firsts[Math.min(n++, firsts.length - 1)]!);
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi'] });
    await vi.advanceTimersByTimeAsync(10);
    FakeSocket.made[0]!.drop(1006);
    await vi.advanceTimersByTimeAsync(2000);
    expect(FakeSocket.made).toHaveLength(2);
    // Served now: no retry 30 s on.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.made).toHaveLength(2);
  });
});

describe('connectEngine refusals (close 4000)', () => {
  const refuse = (error: object) => (ws: FakeSocket) => {
    ws.send(JSON.stringify({ type: 'error', ...error }));
    ws.drop(4000);
  };

  it('hands a socket refused for one of its series to onSeriesRefused (the caller drops it), any other refusal staying final', async () => {
    const refused: string[] = [];
    FakeSocket.serve = refuse({ code: 'bad_series', series: 'nope', message: "unknown series 'nope'; available series: rsi" });
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi', 'nope'], onSeriesRefused: (name) => refused.push(name) });
    await vi.advanceTimersByTimeAsync(10);
    expect(refused).toEqual(['nope']);
    stop();
    // Worded as a series refusal but with no code: not acted on (the wording is not read).
    FakeSocket.serve = refuse({ message: "unknown series 'rsi'" });
    stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', series: ['rsi'], onSeriesRefused: (name) => refused.push(name) });
    await vi.advanceTimersByTimeAsync(10);
    expect(refused).toEqual(['nope']);
    expect(market.getState().connection).toBe('error');
  });

  it('retries rate_limited after the time the engine names, saying it waits, and not sooner when the network comes back', async () => {
    let n = 0;
    FakeSocket.serve = (ws) => (++n === 1 ? refuse({ code: 'rate_limited', message: 'too many new derived series from this address (ON_DEMAND_PER_MIN); retry in 12 s' })(ws) : ws.send(historical));
    connect();
    await vi.advanceTimersByTimeAsync(10);
    expect(market.getState().connection).toBe('reconnecting');
    expect(market.getState().error).toMatch(/retry in 12 s.*reconnecting in 15 s/);
    listeners.online?.();
    await vi.advanceTimersByTimeAsync(11_900);
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3100);
    expect(FakeSocket.made).toHaveLength(2);
    expect(market.getState()).toMatchObject({ connection: 'live', error: null });
  });

  it('waits the time a refusal closed with 1013 names (no_leader, server_full), not the usual backoff (reproduced: every second)', async () => {
    let n = 0;
    FakeSocket.serve = (ws) => {
      if (++n > 1) return ws.send(historical);
      ws.send(JSON.stringify({ type: 'error', code: 'no_leader', message: 'no ingest node leads the cluster', retryAfterSec: 5 }));
      ws.drop(1013);
    };
    connect();
    await vi.advanceTimersByTimeAsync(10);
    expect(market.getState().error).toMatch(/no ingest node leads the cluster.*reconnecting in 7 s/);
    await vi.advanceTimersByTimeAsync(6000);
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.made).toHaveLength(2);
    expect(market.getState()).toMatchObject({ connection: 'live', error: null });
  });

  it('retries series_capacity (no time named) after REFUSED_RETRY_MS, with backoff while it lasts', async () => {
    FakeSocket.serve = refuse({ code: 'series_capacity', message: 'the engine serves at most 8 on-demand series (MAX_ON_DEMAND_SERIES); try again later' });
    connect();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(gaps().every((g) => g >= REFUSED_RETRY_MS)).toBe(true);
    expect(FakeSocket.made.length).toBeGreaterThan(5);
    expect(market.getState().connection).toBe('reconnecting');
  });

  it('asks again every STOPPED_SYMBOL_RETRY_MS for a symbol that stopped trading while it was shown, and is live once it trades again (reproduced: ended for good by a halt)', async () => {
    let n = 0;
    FakeSocket.serve = (ws) => {
      n++;
      // Served, then halted (the engine ends the series), refused twice, then trading again.
      if (n === 1) return (ws.send(historical), refuse({ code: 'symbol_not_trading', message: 'symbol BTCUSDT stopped trading on the exchange' })(ws));
      if (n <= 3) return refuse({ code: 'symbol_not_trading', message: "unknown symbol 'BTCUSDT'" })(ws);
      ws.send(historical);
    };
    connect();
    await vi.advanceTimersByTimeAsync(10);
    expect(market.getState().connection).toBe('reconnecting');
    expect(market.getState().error).toMatch(/stopped trading on the exchange \(reconnecting in \d+ s\)/);
    await vi.advanceTimersByTimeAsync(STOPPED_SYMBOL_RETRY_MS * 1.25 * 3 + 100);
    expect(FakeSocket.made).toHaveLength(4);
    expect(gaps().every((g) => g >= STOPPED_SYMBOL_RETRY_MS)).toBe(true);
    expect(market.getState()).toMatchObject({ connection: 'live', error: null });
  });

  it.each([
    ['a bad interval', { message: "unknown interval '7m'; valid intervals: 1m, 5m" }],
    ['a bad series parameter', { message: "series 'rsi' asked for more than once" }],
    ['a symbol not traded', { code: 'symbol_not_trading', message: 'NOPEUSDT is not traded' }],
  ])('stays final for %s, with its error shown', async (_name, error) => {
    FakeSocket.serve = refuse(error);
    connect();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(market.getState()).toMatchObject({ connection: 'error', error: error.message });
  });
});

describe('connectEngine and a socket gone silent', () => {
  /** The engine answers with a snapshot and its upstream's state, then its messages stop coming, the socket never closing (a dropped NAT mapping). */
  const answersThenSilent = (upstream: string) => {
    FakeSocket.serve = (ws) => {
      ws.send(historical);
      ws.send(JSON.stringify({ type: 'status', upstream, source: 'sim' }));
    };
  };
  beforeEach(() => market.setState({ upstream: 'unknown', candlesByKey: {}, lastUpdateAt: 0, clockSkew: 0 }));

  it('opens a new socket, resuming, once stale DEAD_SOCKET_MS while the engine said its upstream is live; waits twice as long each time that does not help (reproduced: stale for good)', async () => {
    answersThenSilent('live');
    connect();
    await vi.advanceTimersByTimeAsync(100);
    expect(market.getState().connection).toBe('live');
    const staleAt = async () => {
      for (let t = 0; t < 60_000 && market.getState().connection !== 'stale'; t += 100) await vi.advanceTimersByTimeAsync(100);
      return Date.now();
    };
    const t1 = await staleAt();
    await vi.advanceTimersByTimeAsync(DEAD_SOCKET_MS + 600);
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[0]!.readyState).toBe(3);
    expect(FakeSocket.made[1]!.url).toContain('&epoch=e1&since=5');
    expect(FakeSocket.made[1]!.at - t1).toBeGreaterThanOrEqual(DEAD_SOCKET_MS);
    // Silent again: the next reopen waits twice as long.
    const t2 = await staleAt();
    await vi.advanceTimersByTimeAsync(DEAD_SOCKET_MS + 600);
    expect(FakeSocket.made).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(DEAD_SOCKET_MS);
    expect(FakeSocket.made).toHaveLength(3);
    expect(FakeSocket.made[2]!.at - t2).toBeGreaterThanOrEqual(2 * DEAD_SOCKET_MS);
  });

  it('keeps a socket that brings the engine\'s news through a long exchange stall: only a socket on which nothing came for DEAD_SOCKET_MS is dead (reproduced: reopened as the exchange came back, the badge stale, connecting, live, stale, live)', async () => {
    let served: FakeSocket | undefined;
    FakeSocket.serve = (ws) => {
      served ??= ws;
      ws.send(historical);
      ws.send(JSON.stringify({ type: 'status', upstream: 'live', source: 'sim' }));
    };
    connect();
    await vi.advanceTimersByTimeAsync(100);
    const states: string[] = [];
    const unsub = market.subscribe((st, prev) => st.connection !== prev.connection && states.push(st.connection));
    // The exchange stalls: the chart goes stale, the engine says so 10 s in (and again every
    // STATUS_REPEAT_MS, as it does while not live), and says it is back 60 s later.
    await vi.advanceTimersByTimeAsync(10_000);
    for (let t = 0; t < 60_000; t += STATUS_REPEAT_MS) {
      served!.send(JSON.stringify({ type: 'status', upstream: 'stale', source: 'sim' }));
      await vi.advanceTimersByTimeAsync(STATUS_REPEAT_MS);
    }
    expect(market.getState().connection).toBe('stale');
    served!.send(JSON.stringify({ type: 'status', upstream: 'live', source: 'sim' }));
    // Its first update follows within a push.
    await vi.advanceTimersByTimeAsync(1500);
    const sent = Date.now();
    served!.send(JSON.stringify({ type: 'live_candle', symbol: 'BTCUSDT', interval: '1m', ...candle, time: sent - (sent % 60_000), epoch: 'e1', offset: 6, at: sent }));
    await vi.advanceTimersByTimeAsync(1000);
    unsub();
    expect(FakeSocket.made).toHaveLength(1);
    expect(states).toEqual(['stale', 'live']);
  });

  it.each(['stale', 'reconnecting'])('keeps the socket while the engine says its upstream is %s and says it again every STATUS_REPEAT_MS (the engine is there; the exchange is not)', async (upstream) => {
    let served: FakeSocket | undefined;
    FakeSocket.serve = (ws) => {
      served ??= ws;
      ws.send(historical);
      ws.send(JSON.stringify({ type: 'status', upstream, source: 'sim' }));
    };
    connect();
    for (let t = 0; t < 120_000; t += STATUS_REPEAT_MS) {
      await vi.advanceTimersByTimeAsync(STATUS_REPEAT_MS);
      served!.send(JSON.stringify({ type: 'status', upstream, source: 'sim' }));
    }
    expect(market.getState().connection).toBe('stale');
    expect(FakeSocket.made).toHaveLength(1);
  });

  it.each(['stale', 'reconnecting'])('opens a new socket, resuming, when nothing at all came for QUIET_SOCKET_MS while the engine said its upstream is %s (reproduced: kept for good, no reconnect ever tried)', async (upstream) => {
    answersThenSilent(upstream);
    connect();
    await vi.advanceTimersByTimeAsync(100);
    const states: string[] = [];
    const unsub = market.subscribe((st, prev) => st.connection !== prev.connection && states.push(st.connection));
    await vi.advanceTimersByTimeAsync(QUIET_SOCKET_MS - 1000);
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    unsub();
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[1]!.url).toContain('&epoch=e1&since=5');
    // Said reconnecting, not connecting: the view was served (reproduced: connecting).
    expect(states).toEqual(['stale', 'reconnecting', 'live']);
  });

  it('a resumed socket does not carry the last socket\'s upstream state: the badge says reconnecting, not live, until the engine says where its upstream is (reproduced: live for a moment during an outage)', async () => {
    let n = 0;
    let second: FakeSocket | undefined;
    FakeSocket.serve = (ws) => {
      if (++n === 1) {
        ws.send(historical);
        ws.send(JSON.stringify({ type: 'status', upstream: 'live', source: 'sim' }));
        // The socket dies while the engine's upstream is live; the exchange goes away meanwhile.
        setTimeout(() => ws.drop(1006), 1000);
        return;
      }
      second = ws;
      ws.send(JSON.stringify({ type: 'recovered', symbol: 'BTCUSDT', interval: '1m', epoch: 'e1', offset: 5, data: [] }));
    };
    let badge: StatusBadge | undefined;
    const seen: string[] = [];
    const unsub = market.subscribe((st) => {
      badge = statusBadge(st.connection, st.upstream, badge);
      if (seen.at(-1) !== badge.text) seen.push(badge.text);
    });
    connect();
    await vi.advanceTimersByTimeAsync(1500);
    expect(second).toBeDefined();
    expect(market.getState().upstream).toBe('unknown');
    second!.send(JSON.stringify({ type: 'status', upstream: 'reconnecting', source: 'sim' }));
    await vi.advanceTimersByTimeAsync(10);
    unsub();
    expect(seen).toEqual(['connecting', 'live', 'reconnecting']);
  });

  it('leaves the socket of a replay that ended alone: nothing more is due on it', async () => {
    answersThenSilent('ended');
    connect();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(FakeSocket.made).toHaveLength(1);
  });

  /** A forming update of the bar forming when it was sent, by an engine whose clock is `offset` ahead, `late` ms before this browser handles it. */
  const forming = (offset: number, late: number, n: number) => {
    const sent = Date.now() + offset - late;
    return JSON.stringify({ type: 'live_candle', symbol: 'BTCUSDT', interval: '1m', ...candle, time: sent - (sent % 60_000), epoch: 'e1', offset: 5 + n, at: sent });
  };

  /** Connects to a fake engine that answers each socket with the snapshot; the first socket it served. */
  const connectServed = async () => {
    let served: FakeSocket | undefined;
    FakeSocket.serve = (ws) => {
      served ??= ws;
      ws.send(historical);
    };
    connect();
    await vi.advanceTimersByTimeAsync(100);
    return served!;
  };

  it('drops a socket whose updates are handled late and resumes on a new one; the late ones do not move the exchange clock back (reproduced: minutes behind, shown live)', async () => {
    vi.setSystemTime(Date.UTC(2026, 0, 1));
    const served = await connectServed();
    // Updates that come at once, the engine's clock the same as this one.
    for (let n = 1; n <= 3; n++) {
      served.send(forming(0, 30, n));
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(FakeSocket.made).toHaveLength(1);
    expect(market.getState().connection).toBe('live');
    const skew = market.getState().clockSkew;
    // One sent 2 s before its bar closed, handled 2 s + behindMs later here (a main thread that cannot
    // keep up): it is taken, and the socket, with what it still holds, is dropped for a resume.
    await vi.advanceTimersByTimeAsync(60_000 - 3_100 - 2_000 + behindMs('1m') + 2_000);
    served.send(forming(0, behindMs('1m') + 2_000, 4));
    expect(market.getState().positionByKey['BTCUSDT:1m']).toEqual({ epoch: 'e1', offset: 9 });
    // Within LAG_REOPEN_JITTER_MS, at random (every client of an engine whose clock stepped back sees it at once).
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(LAG_REOPEN_JITTER_MS);
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[0]!.readyState).toBe(3);
    expect(FakeSocket.made[1]!.url).toContain('&epoch=e1&since=9');
    // Its bar was forming when it was sent, not when it was handled: the clock reads as before.
    expect(market.getState().clockSkew).toBe(skew);
  });

  it('a socket that closes while a reopen for lateness waits is opened again once, not twice', async () => {
    // The reopen's wait shorter than the reconnect's.
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const served = await connectServed();
    served.send(forming(0, 30, 1));
    await vi.advanceTimersByTimeAsync(1000);
    served.send(forming(0, behindMs('1m') + 2_000, 2));
    served.drop(1006);
    await vi.advanceTimersByTimeAsync(LAG_REOPEN_JITTER_MS + MAX_RETRY_MS);
    expect(FakeSocket.made).toHaveLength(2);
  });

  it('keeps a socket whose engine clock is far off but whose updates come at once', async () => {
    const served = await connectServed();
    for (let n = 1; n <= 30; n++) {
      served.send(forming(-3_600_000, 20 + (n % 3) * 40, n));
      await vi.advanceTimersByTimeAsync(2000);
    }
    expect(FakeSocket.made).toHaveLength(1);
    expect(market.getState().connection).toBe('live');
  });
});

describe('connectEngine while the browser is offline', () => {
  it('tries a closed socket again every OFFLINE_RETRY_MS while offline, and at once when the network is back (reproduced: a failing retry every second, each logged)', async () => {
    FakeSocket.serve = (ws) => ws.send(historical);
    connect();
    await vi.advanceTimersByTimeAsync(100);
    expect(market.getState().connection).toBe('live');
    vi.stubGlobal('navigator', { onLine: false });
    FakeSocket.made[0]!.drop(1006);
    // Each try fails at once while offline (the browser has no route).
    FakeSocket.serve = (ws) => ws.drop(1006);
    await vi.advanceTimersByTimeAsync(3 * OFFLINE_RETRY_MS - 1000);
    expect(FakeSocket.made.length).toBeLessThanOrEqual(1 + 3);
    expect(market.getState().connection).toBe('reconnecting');
    vi.stubGlobal('navigator', { onLine: true });
    FakeSocket.serve = (ws) => ws.send(historical);
    const made = FakeSocket.made.length;
    listeners.online?.();
    await vi.advanceTimersByTimeAsync(10);
    expect(FakeSocket.made).toHaveLength(made + 1);
    expect(market.getState().connection).toBe('live');
  });
});
