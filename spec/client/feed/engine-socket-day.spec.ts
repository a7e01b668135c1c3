import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CONNECT_TIMEOUT_MS, connectEngine, STOPPED_SYMBOL_RETRY_MS } from '../../../client/src/feed/engine-socket.ts';
import { setSelection } from '../../../client/src/store/actions.ts';
import { market } from '../../../client/src/store/market.ts';
import { FakeSocket, listeners, setUpFakeEngine, tearDownFakeEngine } from '../../helpers/fake-engine-socket.ts';

/** What a chart kept open all day meets: hanging connects, halts, quiet markets, reloads, odd frames (a client review). */
const bar = (time: number, close = 1.5) => ({ time, open: 1, high: Math.max(2, close), low: 0.5, close, volume: 3, is_closed: false });
const historical = (extra: object = {}, symbol = 'BTCUSDT', interval = '1m') => ({ type: 'historical', symbol, interval, epoch: 'e1', offset: 5, data: [bar(60_000)], ...extra });
const live = (offset: number, time = 60_000, symbol = 'BTCUSDT') => ({ type: 'live_candle', symbol, interval: '1m', epoch: 'e1', offset, ...bar(time, 1 + offset / 100) });

const stops: Array<() => void> = [];
const connect = (o: Partial<Parameters<typeof connectEngine>[0]> = {}) => {
  const stop = connectEngine({ symbol: 'BTCUSDT', interval: '1m', baseUrl: 'ws://engine', ...o });
  stops.push(stop);
  return stop;
};
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(setUpFakeEngine);
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  tearDownFakeEngine();
});

describe('connectEngine over a day', () => {
  it('gives up a connect that hangs and tries again; `online` replaces a socket still connecting at once', async () => {
    FakeSocket.serve = (ws) => ws.send(historical());
    connect();
    await settle();
    FakeSocket.autoOpen = false; // the network drops packets: connects hang
    FakeSocket.made[0]!.drop(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.made).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(CONNECT_TIMEOUT_MS);
    // The hung socket was failed and another tried (the badge read reconnecting for 75 s or more).
    expect(FakeSocket.made[1]!.readyState).toBe(3);
    expect(FakeSocket.made.length).toBeGreaterThanOrEqual(3);
    // The network is back: the socket still connecting is replaced now, and it resumes.
    FakeSocket.autoOpen = true;
    const before = FakeSocket.made.length;
    listeners.online!();
    await settle();
    expect(FakeSocket.made).toHaveLength(before + 1);
    expect(FakeSocket.made.at(-1)!.url).toContain('&epoch=e1&since=5');
    expect(market.getState().connection).toBe('live');
  });

  it('keeps asking every minute for a halted symbol after the trader switched its interval during the halt', async () => {
    setSelection('XYZUSDT', '1m');
    FakeSocket.serve = (ws) => ws.send(historical({}, 'XYZUSDT', '1m'));
    const stop1m = connect({ symbol: 'XYZUSDT' });
    await settle();
    const halted = (ws: FakeSocket) => {
      ws.send({ type: 'error', code: 'symbol_not_trading', message: 'XYZUSDT stopped trading' });
      ws.drop(4000);
    };
    halted(FakeSocket.made[0]!);
    stop1m();
    // 5m during the halt: a new view, never served, of a symbol the chart showed.
    FakeSocket.serve = halted;
    connect({ symbol: 'XYZUSDT', interval: '5m' });
    await settle();
    expect(market.getState().connection).toBe('reconnecting');
    const asked = FakeSocket.made.length;
    FakeSocket.serve = (ws) => ws.send(historical({}, 'XYZUSDT', '5m')); // the halt ends
    await vi.advanceTimersByTimeAsync(STOPPED_SYMBOL_RETRY_MS * 1.25 + 100);
    expect(FakeSocket.made.length).toBe(asked + 1);
    expect(market.getState()).toMatchObject({ connection: 'live', error: null });
  });

  it('keeps a failed series failed through an edge reload (a historical of candles only)', async () => {
    FakeSocket.serve = (ws) => ws.send(historical({ series: { rsi: [], 'ema-cross': [] }, seriesStatus: { 'ema-cross': { state: 'failed', error: 'operator threw' } } }));
    connect({ series: ['rsi', 'ema-cross'] });
    await settle();
    expect(market.getState().seriesStatus['ema-cross|BTCUSDT:1m']).toMatchObject({ state: 'failed' });
    FakeSocket.made[0]!.send(historical({ recovered: false, offset: 9 }));
    expect(market.getState().seriesStatus['ema-cross|BTCUSDT:1m']).toMatchObject({ state: 'failed', error: 'operator threw' });
    expect(market.getState().positionByKey['BTCUSDT:1m']).toEqual({ epoch: 'e1', offset: 9 });
  });

  it("ignores another series' messages on this socket", async () => {
    FakeSocket.serve = (ws) => ws.send(historical());
    connect();
    await settle();
    const before = market.getState().lastUpdateAt;
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.made[0]!.send(live(1, 120_000, 'ETHUSDT'));
    FakeSocket.made[0]!.send({ ...historical({}, 'BTCUSDT', '5m'), data: [bar(300_000, 99)] });
    const s = market.getState();
    expect(s.candlesByKey['ETHUSDT:1m']).toBeUndefined();
    expect(s.candlesByKey['BTCUSDT:5m']).toBeUndefined();
    expect(s.positionByKey['ETHUSDT:1m']).toBeUndefined();
    expect(s.lastUpdateAt).toBe(before);
  });

  it('resumes from the last update it took when one cannot be read (its version is not skipped)', async () => {
    FakeSocket.serve = (ws) => ws.send(historical());
    connect();
    await settle();
    const ws = FakeSocket.made[0]!;
    ws.send(live(6));
    ws.send({ ...live(7), high: 'x' }); // unreadable
    ws.send(live(8)); // were it taken, the resume would start past 7
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[1]!.url).toContain('&epoch=e1&since=6');
  });

  it('lets a quiet market (an update every 30 s) stay live once its pace is learned, across resumes, without reopening its socket', async () => {
    vi.setSystemTime(1_700_000_000_000);
    setSelection('QUIETUSDT', '1m');
    let offset = 5;
    const minute = () => Math.floor(Date.now() / 60_000) * 60_000;
    FakeSocket.serve = (ws) => {
      if (ws.url.includes('since=')) ws.send({ type: 'recovered', symbol: 'QUIETUSDT', interval: '1m', epoch: 'e', offset, data: [] });
      else ws.send({ type: 'historical', symbol: 'QUIETUSDT', interval: '1m', epoch: 'e', offset, data: [bar(minute())] });
      ws.send({ type: 'status', upstream: 'live', source: 'binance' });
    };
    connect({ symbol: 'QUIETUSDT' });
    const push = setInterval(() => {
      const ws = FakeSocket.made.at(-1)!;
      if (ws.readyState !== 1) return;
      offset++;
      ws.send({ type: 'live_candle', symbol: 'QUIETUSDT', interval: '1m', epoch: 'e', offset, at: Date.now(), ...bar(minute(), 1 + offset / 100) });
    }, 30_000);
    try {
      // Learning its pace (stale is fair until it has seen two updates in a row).
      await vi.advanceTimersByTimeAsync(3 * 60_000);
      // A network blip: the socket drops and resumes (an empty `recovered` when nothing was missed).
      FakeSocket.made.at(-1)!.drop(1006);
      await vi.advanceTimersByTimeAsync(1000);
      const sockets = FakeSocket.made.length;
      const states: string[] = [];
      const unsubscribe = market.subscribe((s, p) => s.connection !== p.connection && states.push(s.connection));
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      unsubscribe();
      expect(states).toEqual([]);
      expect(FakeSocket.made).toHaveLength(sockets);
      expect(market.getState().connection).toBe('live');
    } finally {
      clearInterval(push);
    }
  });
});
