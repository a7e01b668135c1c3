import { lastValueFrom, map, type OperatorFunction, of, Subject, toArray } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { HistoryRefusedError } from '../../../engine/src/domain/errors.ts';
import { type SeriesId, seriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger, silentLogger } from '../../../engine/src/log.ts';
import { ema } from '../../../engine/src/operators/ema.ts';
import { defineSeries, type SeriesDefinition, type SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { SeriesBusyError, SeriesFailedError } from '../../../engine/src/series/series-errors.ts';
import { type SeriesRegistryDeps, SeriesRegistry } from '../../../engine/src/series/series-registry.ts';
import emaCross from '../../../series/ema-cross.ts';
import rsiSeries from '../../../series/rsi.ts';
import sessionVwap from '../../../series/session-vwap.ts';

const M = 60_000;
const bar = (i: number, closed = true): Bar => ({ openTime: i * M, open: i, high: i + 1, low: i - 1, close: i, volume: 1, closed });
/** A wandering close, the same for a given index. */
const wave = (i: number, closed = true): Bar => {
  const c = 100 + 10 * Math.sin(i / 7) + 3 * Math.cos(i / 3.1) + (i % 5);
  return { openTime: i * M, open: c, high: c + 1, low: c - 1, close: c, volume: 1, closed };
};
const range = (from: number, to: number, f = wave) => Array.from({ length: to - from }, (_, k) => f(from + k));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const id = seriesId('BTCUSDT', '1m');

const double = defineSeries({
  name: 'double',
  pane: 'oscillator',
  params: { factor: 2 },
  ranges: { factor: { min: 0.5, max: 10, integer: false } },
  warmup: 0,
  operator: ({ factor }): OperatorFunction<Bar, SeriesPoint> => map((b) => ({ time: b.openTime, value: b.close * factor, closed: b.closed })),
});

const emaSeries = defineSeries({ name: 'ema', pane: 'overlay', params: { period: 10 }, warmup: 150, operator: ({ period }) => ema({ period }) });

/** A series of the closes that runs `each` on every bar first (to throw, or to spend a test clock's time). */
const closesAfter = (name: string, each: (b: Bar) => void) =>
  defineSeries({
    name,
    pane: 'overlay',
    params: {},
    warmup: 0,
    operator: () =>
      map((b: Bar): SeriesPoint => {
        each(b);
        return { time: b.openTime, value: b.close, closed: b.closed };
      }),
  });

/** A series of the closes that throws on the bars `fails` picks. */
const closesFailingOn = (name: string, fails: (b: Bar) => boolean) =>
  closesAfter(name, (b) => {
    if (fails(b)) throw new Error(`${name} failed at ${b.openTime}`);
  });

type SentPoint = { type: string; time: number; value: number };

/** The `series_point`s among what was published from index `from` on. */
const pointsSince = (published: ReadonlyArray<[string, string]>, from: number): SentPoint[] =>
  published
    .slice(from)
    .map(([, m]) => JSON.parse(m) as SentPoint)
    .filter((m) => m.type === 'series_point');

/** A chart's points (time → value) once every sent point is upserted by time, oldest first. */
function upserted(chart: Map<number, number | undefined>, sent: readonly SentPoint[]): Array<[number, number | undefined]> {
  for (const m of sent) chart.set(m.time, m.value);
  return [...chart].sort((a, b) => a[0] - b[0]);
}

function setup(defs: SeriesDefinition[] = [double, emaSeries], extra: Partial<SeriesRegistryDeps> = {}, history: Bar[] = [bar(1), bar(2), bar(3)]) {
  const live = new Subject<Bar>();
  const published: Array<[string, string]> = [];
  const errors: string[] = [];
  const registry = new SeriesRegistry(defs, {
    bufferSize: 1000,
    log: silentLogger,
    history: () => history,
    bars$: () => live.asObservable(),
    publish: (t, m) => published.push([t, m()]),
    onError: (n) => errors.push(n),
    restartDelayMs: 1,
    ...extra,
  });
  const req = (spec: string) => {
    const r = registry.parse(spec, '1m');
    if (!r.ok) throw new Error(r.error);
    return r.value[0]!;
  };
  return { registry, live, published, errors, history, req };
}

describe('SeriesRegistry', () => {
  // Tests of restart timing run on vi's fake clock (each turns it on); the others on the real one.
  afterEach(() => vi.useRealTimers());

  it('warms a series up over the stored history, then follows live bars, publishing each point once', async () => {
    const { registry, live, published, req } = setup();
    const lease = registry.acquire(req('double'), id);
    const inst = await lease.ready;
    expect(inst.state).toBe('live');
    expect(inst.window.last(10).map((p) => p.value)).toEqual([2, 4, 6]);
    live.next(bar(4, false));
    live.next(bar(4));
    expect(inst.window.last(10).map((p) => [p.value, p.closed])).toEqual([[2, true], [4, true], [6, true], [8, true]]);
    // Warm-up points are not published; live ones are, once each.
    expect(published.map(([t]) => t)).toEqual(Array(2).fill('series/double/BTCUSDT/1m'));
    expect(JSON.parse(published[1]![1])).toEqual({ type: 'series_point', name: 'double', symbol: 'BTCUSDT', interval: '1m', time: 4 * M, value: 8, is_closed: true });
    // The same request shares the instance: computed once, whatever the number of clients.
    expect(registry.acquire(req('double'), id).instance).toBe(inst);
    registry.stop();
  });

  it('accepts only declared own parameters, typed and in range, naming the bad one (reproduced: constructor, toString, period=0, fast=0.5, fast=-1 were accepted)', () => {
    const { registry } = setup([double, emaCross, rsiSeries]);
    const err = (spec: string) => {
      const r = registry.parse(spec, '1m');
      return r.ok ? 'accepted' : r.error;
    };
    expect(err('double:factor=3')).toBe('accepted');
    expect(registry.parse('double:factor=3', '1m')).toMatchObject({ ok: true, value: [{ label: 'double:factor=3' }] });
    expect(err('nope')).toBe("unknown series 'nope'; available series: double, ema-cross, rsi");
    expect(err('rsi:constructor=1')).toMatch(/unknown parameter 'constructor' \(known: period\)/);
    expect(err('rsi:toString=1')).toMatch(/unknown parameter 'toString'/);
    expect(err('rsi:__proto__=1')).toMatch(/unknown parameter '__proto__'/);
    expect(err('rsi:period=0')).toMatch(/parameter 'period' must be >= 1, got 0/);
    expect(err('rsi:period=abc')).toMatch(/'period' must be a number/);
    expect(err('rsi:period=')).toMatch(/'period' must be a number/);
    for (const odd of ['1e2', '0x10', ' 5', 'Infinity', '1.', '.5']) expect(err(`rsi:period=${odd}`), odd).toMatch(/'period' must be a number/);
    expect(err('rsi:period=14;period=15')).toBe("series 'rsi': parameter 'period' given more than once");
    // A value with no name was dropped, and the default served (found by probing).
    expect(err('rsi:=5')).toBe("series 'rsi': a parameter has no name ('=5')");
    expect(err('rsi:')).toBe('accepted');
    expect(err('ema-cross:fast=0.5')).toMatch(/parameter 'fast' must be an integer, got 0.5/);
    expect(err('ema-cross:fast=-1')).toMatch(/parameter 'fast' must be >= 1, got -1/);
    // Named once (it read "ema-cross: ema-cross: fast …").
    expect(err('ema-cross:fast=30')).toBe('ema-cross: fast (30) must be below slow (21)');
    expect(err('double:factor=0.1')).toMatch(/'factor' must be >= 0.5/);
    expect(err('double:factor=1.5')).toBe('accepted');
    // Refused, not truncated (reproduced: 20 asked, 16 silently served).
    const many = (n: number) => Array.from({ length: n }, (_, i) => `double:factor=${1 + i / 10}`).join(',');
    expect(registry.parse(many(16), '1m')).toMatchObject({ ok: true });
    expect(err(many(17))).toBe('at most 16 series per request (asked for 17)');
    // The same series twice is refused (reproduced: 16 × rsi was served, its points 16 times in the
    // first message), however spelled: the default parameter given or not is one label.
    expect(err('rsi,double,rsi')).toBe("series 'rsi' asked for more than once");
    expect(err('rsi:period=21,rsi:period=21')).toBe("series 'rsi:period=21' asked for more than once");
    expect(err('rsi,rsi:period=14')).toBe("series 'rsi' asked for more than once");
    expect(err('rsi,rsi:period=21')).toBe('accepted');
  });

  it("refuses at load a parameter named limit or endTime (GET /series' own: the page's there, the series' over a WebSocket) and strings no client can send", () => {
    const base = { name: 'probe', pane: 'oscillator' as const, operator: () => map((b: Bar) => ({ time: b.openTime, value: b.close, closed: b.closed })) };
    expect(() => defineSeries({ ...base, params: { limit: 100 } })).toThrow(/parameter name 'limit' is GET \/series' own/);
    expect(() => defineSeries({ ...base, params: { endTime: 1 } })).toThrow(/parameter name 'endTime'/);
    expect(() => defineSeries({ ...base, params: { tz: 'UTC' }, ranges: { tz: { options: ['UTC', '+08:00', 'Asia/Tokyo'] } } })).toThrow(/ranges.tz.options holds '\+08:00', which no client can send/);
    expect(() => defineSeries({ ...base, params: { tz: 'Asia/Tokyo' } })).toThrow(/defaults to 'Asia\/Tokyo'/);
    expect(() => defineSeries({ ...base, params: { tz: 'UTC' }, ranges: { tz: { options: ['UTC', 'UTC+8'] } } })).not.toThrow();
  });

  it('refuses parameters whose warm-up passes what the engine keeps, saying so, that series alone (reproduced: session-vwap:anchor=1w on 1m capped its own and showed partial sessions; then: the whole request refused)', () => {
    const { registry } = setup([sessionVwap]);
    const error = 'session-vwap: these parameters need 10080 bars of warm-up on 1m, more than the 5000 the engine keeps: use a longer interval or a shorter parameter';
    const r = registry.parse('session-vwap:anchor=1w', '1m');
    expect(r).toEqual({ ok: true, value: [], refused: [{ label: 'session-vwap:anchor=1w', error }] });
    // GET /series/… asks for one: refused with the same words.
    expect(registry.request('session-vwap', { anchor: '1w' }, '1m')).toEqual({ ok: false, error, label: 'session-vwap:anchor=1w' });
    // A bad parameter is the request's fault: the whole of it is refused.
    expect(registry.parse('session-vwap:anchor=1w,session-vwap:anchor=nope', '1m').ok).toBe(false);
    expect(registry.parse('session-vwap:anchor=1w', '5m')).toMatchObject({ ok: true, value: [{ label: 'session-vwap:anchor=1w' }], refused: [] });
    expect(registry.parse('session-vwap:anchor=1d', '1m')).toMatchObject({ ok: true, value: [{ label: 'session-vwap' }], refused: [] });
  });

  it('isolates a series that throws: counted, marked failed with its error, restarted; other series unaffected', async () => {
    vi.useFakeTimers();
    let explode = true;
    const fragile = closesFailingOn('fragile', (b) => explode && b.openTime === 12 * M);
    const { registry, live, errors, published, req } = setup([double, fragile]);
    const fr = registry.acquire(req('fragile'), id);
    const db = registry.acquire(req('double'), id);
    await Promise.all([fr.ready, db.ready]);
    live.next(bar(12));
    expect(errors).toEqual(['fragile']);
    expect(fr.instance.state).toBe('failed');
    expect(fr.instance.error).toBe(`fragile failed at ${12 * M}`);
    expect(registry.status('fragile', id)).toEqual({ state: 'failed', error: `fragile failed at ${12 * M}` });
    expect(published.map(([, m]) => JSON.parse(m) as { type: string }).filter((m) => m.type === 'series_status')).toEqual([
      { type: 'series_status', name: 'fragile', symbol: 'BTCUSDT', interval: '1m', state: 'failed', error: `fragile failed at ${12 * M}` },
    ]);
    expect(db.instance.window.last(1)[0]!.value).toBe(24);
    const listed = registry.list().find((d) => d.name === 'fragile')!.instances;
    expect(listed).toEqual([{ name: 'fragile', symbol: 'BTCUSDT', interval: '1m', state: 'failed', clients: 1, error: `fragile failed at ${12 * M}` }]);
    explode = false;
    // The restart is due 1 ms (restartDelayMs) after the failure.
    await vi.advanceTimersByTimeAsync(1);
    expect(fr.instance.state).toBe('live');
    expect(JSON.parse(published.at(-1)![1])).toMatchObject({ type: 'series_status', name: 'fragile', state: 'live' });
    live.next(bar(13));
    expect(fr.instance.window.last(1)[0]!.value).toBe(13);
    expect(db.instance.window.last(1)[0]!.value).toBe(26);
    registry.stop();
  });

  it("fails a series alone when its operator's builder throws at a block's rotation on the live feed: the user's error, the feed and the other series go on (a quant review: the process exited)", async () => {
    let builds = 0;
    let refuse = false;
    const rotating = defineSeries({
      name: 'rotating',
      pane: 'overlay',
      params: {},
      warmup: 5,
      operator: () => {
        builds++;
        if (refuse) throw new Error('builder refused');
        return map((b: Bar): SeriesPoint => ({ time: b.openTime, value: b.close, closed: b.closed }));
      },
    });
    const { registry, live, errors, req } = setup([double, rotating], { restartDelayMs: 60_000 }, range(0, 20, bar));
    const rot = registry.acquire(req('rotating'), id);
    const db = registry.acquire(req('double'), id);
    await Promise.all([rot.ready, db.ready]);
    expect(rot.instance.state).toBe('live');
    refuse = true;
    const before = builds;
    // Bar 25 opens a block (5 bars of 1m): its warming run is built, and the builder throws.
    for (let i = 20; i < 30; i++) expect(() => live.next(bar(i))).not.toThrow();
    expect(builds).toBe(before + 1);
    expect(errors).toEqual(['rotating']);
    expect(rot.instance.state).toBe('failed');
    expect(rot.instance.error).toBe('builder refused');
    expect(db.instance.window.last(1)[0]!.value).toBe(58);
    registry.stop();
  });

  it('once running again after a failure, sends the points of bars that came while it was failed (a chart holding the earlier ones then has them all)', async () => {
    vi.useFakeTimers();
    let explode = true;
    const fragile = closesFailingOn('fragile', (b) => explode && b.openTime === 5 * M);
    const history = [bar(1), bar(2), bar(3), bar(4)];
    const { registry, live, published, req } = setup([fragile], { restartDelayMs: 50 }, history);
    const inst = await registry.acquire(req('fragile'), id).ready;
    const chart = new Map(inst.window.last(100).map((p) => [p.time, p.value]));
    const from = published.length;
    history.push(bar(5));
    live.next(bar(5));
    expect(inst.state).toBe('failed');
    explode = false;
    // A bar closes while it waits to run again.
    history.push(bar(6));
    live.next(bar(6));
    await vi.advanceTimersByTimeAsync(49);
    expect(inst.state).toBe('failed');
    // The restart is due 50 ms (restartDelayMs) after the failure.
    await vi.advanceTimersByTimeAsync(1);
    expect(inst.state).toBe('live');
    const points = pointsSince(published, from);
    expect(upserted(chart, points)).toEqual(inst.window.last(100).map((p) => [p.time, p.value]));
    expect(points.map((m) => m.time / M)).toEqual([5, 6]);
    registry.stop();
  });

  it('backs off exponentially, gives up after repeated failures, and never republishes the same point (reproduced: ~1 retry/s forever, the same point again each time)', async () => {
    vi.useFakeTimers();
    // Throws on every live bar 5: each restart replays the window (bars 1..4 give points again).
    const broken = closesFailingOn('broken', (b) => b.openTime === 5 * M);
    const history = [bar(1), bar(2), bar(3), bar(4)];
    const at: number[] = [];
    const { registry, live, published, req } = setup([broken], { restartDelayMs: 30, maxFailures: 4, onError: () => at.push(Date.now()) }, history);
    const lease = registry.acquire(req('broken'), id);
    await lease.ready;
    history.push(bar(5));
    live.next(bar(5));
    // 30 + 60 + 120 ms of restarts on the (fake) clock.
    await vi.advanceTimersByTimeAsync(210);
    // 4 failures: the first live, three restarts over the window (now holding bar 5), then given up.
    expect(at).toHaveLength(4);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps[1]! / gaps[0]!).toBeGreaterThan(1.5);
    expect(gaps[2]! / gaps[1]!).toBeGreaterThan(1.5);
    expect(lease.instance.state).toBe('failed');
    // Given up for good: no restart however long it waits.
    await vi.advanceTimersByTimeAsync(600_000);
    expect(at).toHaveLength(4);
    const points = published.map(([, m]) => JSON.parse(m) as { type: string }).filter((m) => m.type === 'series_point');
    expect(points).toEqual([]);
    // The failure said once while it is retried, and once more when it is final (the same words left
    // a client waiting for a restart that never came: a quant review).
    expect(published.map(([, m]) => (JSON.parse(m) as { error: string }).error)).toEqual([`broken failed at ${5 * M}`, `broken failed at ${5 * M} (given up after 4 failures)`]);
    expect(lease.instance.error).toBe(`broken failed at ${5 * M} (given up after 4 failures)`);
    registry.stop();
  });

  it("stops the series whose live bars take most of the engine once all of them together pass SERIES_LIVE_SHARE, says so, and lets the others run (a slow operator delayed every client's candles)", async () => {
    // The registry's clock: 1 s between live bars, and what each operator spends on a live bar (bars from 10 on).
    let clock = 0;
    const costly = (name: string, ms: number) =>
      closesAfter(name, (b) => {
        if (b.openTime >= 10 * M) clock += ms;
      });
    const { registry, live, published, errors, req } = setup([costly('heavy', 300), costly('light', 200)], { now: () => clock, restartDelayMs: 1 });
    // The light one first: its bar passes the limit, and the heavy one (fed after it) is stopped for it.
    const light = registry.acquire(req('light'), id);
    const heavy = registry.acquire(req('heavy'), id);
    await Promise.all([heavy.ready, light.ready]);
    expect(registry.timedCount).toBe(0);
    // 500 ms of each 1.5 s together: 2.5 s (a quarter of 10 s) after the 5th bar, past it at the 6th's first.
    for (let i = 10; i < 15; i++) {
      clock += 1000;
      live.next(bar(i));
    }
    expect([heavy.instance.state, errors, registry.timedCount]).toEqual(['live', [], 2]);
    clock += 1000;
    live.next(bar(15));
    expect(errors).toEqual(['heavy']);
    expect(heavy.instance.state).toBe('failed');
    // Stopped, its time goes: the feed's call of its (detached) target in the same turn counts none again (a review).
    expect(registry.timedCount).toBe(1);
    const said = "heavy: its operator took 1.50 s of the engine's last 10.00 s on live bars, the most of any series for the clients it serves (all together 2.70 s; SERIES_LIVE_SHARE=0.25 allows 2.50 s): stopped so candles and other series keep their pace";
    expect(`heavy: ${heavy.instance.error}`).toBe(said);
    expect(published.map(([, m]) => JSON.parse(m) as { type: string; name: string; error?: string }).filter((m) => m.type === 'series_status')).toEqual([
      { type: 'series_status', name: 'heavy', symbol: 'BTCUSDT', interval: '1m', state: 'failed', error: said.slice('heavy: '.length) },
    ]);
    // The light one goes on, and is not stopped for time the heavy one spent.
    for (let i = 16; i < 30; i++) {
      clock += 1000;
      live.next(bar(i));
    }
    expect(light.instance.state).toBe('live');
    expect(light.instance.window.last(1)[0]!.time).toBe(29 * M);
    expect(errors).toEqual(['heavy']);
    registry.stop();
    // Every instance gone: none is counted any more.
    expect(registry.timedCount).toBe(0);
  });

  it('restarts one stopped for its time as after a throw, but never gives it up: load comes and goes, and a held series given up stayed failed for every client (a review)', async () => {
    let clock = 0;
    const heavy = closesAfter('heavy', (b) => {
      if (b.openTime >= 10 * M) clock += 400;
    });
    const { registry, live, published, errors, req } = setup([heavy], { now: () => clock, restartDelayMs: 1, maxRestartDelayMs: 4, maxFailures: 2 });
    const lease = registry.acquire(req('heavy'), id);
    await lease.ready;
    // 400 ms a second alone: stopped every 7th bar or so, back 1, 2, 4, 4 … ms later.
    for (let i = 10; i < 80; i++) {
      clock += 1000;
      live.next(bar(i));
      await sleep(lease.instance.state === 'failed' ? 10 : 0);
    }
    expect(errors.length).toBeGreaterThan(4);
    const states = published.map(([, m]) => JSON.parse(m) as { type: string; state?: string; error?: string }).filter((m) => m.type === 'series_status');
    expect(states.filter((m) => m.state === 'failed')).toHaveLength(errors.length);
    expect(states.some((m) => /given up/.test(m.error ?? ''))).toBe(false);
    expect(lease.instance.state).toBe('live');
    registry.stop();
  });

  it('a series failing in its warm-up answers ranges with its error, not old points (reproduced: 200 with hours-old points)', async () => {
    const bad = closesFailingOn('bad', (b) => b.openTime === 2 * M);
    const { registry, req } = setup([bad], { maxFailures: 1 });
    const lease = registry.acquire(req('bad'), id);
    await lease.ready;
    expect(lease.instance.state).toBe('failed');
    await expect(registry.range(req('bad'), id, undefined, 10)).rejects.toThrow(SeriesFailedError);
    await expect(registry.range(req('bad'), id, undefined, 10)).rejects.toThrow(`bad failed at ${2 * M}`);
    registry.stop();
  });

  it('releases instances nobody holds after an idle delay, caps variants per series, and stays bounded under a flood (reproduced: 4,000 variants kept forever, then every variant refused)', async () => {
    const { registry, req } = setup([double], { idleMs: 20, maxVariants: 8 });
    const def = registry.acquire(req('double'), id);
    // A flood of distinct parameter sets, each held briefly as a request would.
    for (let i = 0; i < 4000; i++) {
      const lease = registry.acquire(req(`double:factor=${1 + i / 1000}`), id);
      lease.release();
      expect(registry.instanceCount).toBeLessThanOrEqual(9);
    }
    // Eight variants held at once: a ninth is refused (not the defaults), until one is released.
    const held = Array.from({ length: 8 }, (_, i) => registry.acquire(req(`double:factor=${5 + i / 2}`), id));
    expect(() => registry.acquire(req('double:factor=9.5'), id)).toThrow(SeriesBusyError);
    expect(() => registry.acquire(req('double:factor=9.5'), id)).toThrow(/too many parameter variants of 'double' on BTCUSDT 1m in use \(max 8\)/);
    const again = registry.acquire(req('double'), id);
    expect(again.instance).toBe(def.instance);
    again.release();
    held[0]!.release();
    expect(registry.acquire(req('double:factor=9.5'), id).instance.state).toBe('live');
    for (const h of held) h.release();
    def.release();
    await sleep(80);
    // All released after the idle delay, but the one still held (factor=9.5).
    expect(registry.instanceCount).toBe(1);
    registry.stop();
  });

  it('warms up off the request path, in slices that let the event loop run, and is ready afterwards (reproduced: a 10 s warm-up inside a request)', async () => {
    const history = range(0, 5000);
    const { registry, req } = setup([emaSeries], { sliceBars: 250 }, history);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const lease = registry.acquire(req('ema'), id);
    expect(lease.instance.state).toBe('warming');
    const inst = await lease.ready;
    clearInterval(ticker);
    expect(inst.state).toBe('live');
    expect(turns).toBeGreaterThan(3);
    expect(inst.window.size).toBe(1000);
    registry.stop();
  });

  it('shares the turns of the event loop between every warm-up: many at once take a few slices a turn, not one slice each (reproduced: 15 warming instances held it ~70 ms)', async () => {
    let fed = 0;
    // About 0.1 ms a bar: a slice of 20 bars is ~2 ms, so a turn of SLICE_TURN_MS (4) runs two or three.
    const slow = defineSeries({
      name: 'slow',
      pane: 'overlay',
      params: { k: 1 },
      ranges: { k: { min: 1, max: 20 } },
      warmup: 0,
      operator: ({ k }): OperatorFunction<Bar, SeriesPoint> =>
        map((b) => {
          fed++;
          const until = performance.now() + 0.1;
          while (performance.now() < until);
          return { time: b.openTime, value: b.close * k, closed: b.closed };
        }),
    });
    const { registry, req } = setup([slow], { sliceBars: 20, maxVariants: 16 }, range(0, 400));
    // Bars fed between two runs of a timer (one per turn of the event loop while slices keep it busy).
    let most = 0;
    let seen = 0;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      most = Math.max(most, fed - seen);
      seen = fed;
      timer = setTimeout(tick, 0);
    };
    tick();
    const leases = Array.from({ length: 8 }, (_, i) => registry.acquire(req(`slow:k=${i + 1}`), id));
    await Promise.all(leases.map((l) => l.ready));
    clearTimeout(timer);
    expect(fed).toBeGreaterThanOrEqual(8 * 400);
    // One slice each in one turn would be 8 × 20 = 160.
    expect(most).toBeLessThanOrEqual(80);
    registry.stop();
  });
});

describe('SeriesRegistry: deterministic warm-up and ranges over history', () => {
  // The exchange's bars: 0..2999; the window holds the newest `windowSize` at a given moment.
  const exchange = range(0, 3000);
  const at = (now: number, windowSize = 500, extra: Partial<SeriesRegistryDeps> = {}) => {
    const history = exchange.filter((b) => b.openTime < now * M).slice(-windowSize);
    return setup([emaSeries], {
      olderBars: (_id, endTime, limit) => Promise.resolve(exchange.filter((b) => b.openTime <= endTime).slice(-limit)),
      ...extra,
    }, history);
  };

  it('a series requested at two moments gives identical closed values for the same times (reproduced: up to 4 price units apart)', async () => {
    const early = at(2000);
    const late = at(2333);
    const a = await early.registry.acquire(early.req('ema'), id).ready;
    const b = await late.registry.acquire(late.req('ema'), id).ready;
    // The early instance follows live bars up to the late one's moment.
    for (const x of exchange.slice(2000, 2333)) early.live.next(x);
    const va = new Map(a.window.last(10_000).map((p) => [p.time, p.value]));
    const common = b.window.last(10_000).filter((p) => va.has(p.time));
    expect(common.length).toBeGreaterThan(400);
    for (const p of common) expect(p.value).toBe(va.get(p.time));
    early.registry.stop();
    late.registry.stop();
  });

  it('charges a new instance\'s warm-up to the address that started it, not one budget for all (reproduced: every warm-up on one)', async () => {
    const asked: Array<string | undefined> = [];
    const { registry, req } = at(3000, 300, {
      olderBars: (_id, endTime, limit, address) => {
        asked.push(address);
        return Promise.resolve(exchange.filter((b) => b.openTime <= endTime).slice(-limit));
      },
    });
    await registry.acquire(req('ema'), id, '203.0.113.7').ready;
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked)).toEqual(new Set(['203.0.113.7']));
    registry.stop();
  });

  it('serves a scrolled-back range (older than the window, from the exchange) equal to a long continuous run', async () => {
    const { registry, req } = at(3000);
    const points = await registry.range(req('ema'), id, 1200 * M, 300);
    expect(points.map((p) => p.time)).toEqual(range(901, 1201).map((b) => b.openTime));
    const continuous = await lastValueFrom(of(...exchange).pipe(ema({ period: 10 }), toArray()));
    const byTime = new Map(continuous.map((p) => [p.time, p.value]));
    for (const p of points) expect(p.value).toBeCloseTo(byTime.get(p.time)!, 9);
    // And the same values as an instance would hold for those times.
    const other = at(1300, 1000);
    const inst = await other.registry.acquire(other.req('ema'), id).ready;
    const held = new Map(inst.window.last(10_000).map((p) => [p.time, p.value]));
    for (const p of points) expect(p.value).toBe(held.get(p.time));
    registry.stop();
    other.registry.stop();
  });

  it('a live warm-up refused by the warm-up budget waits its turn and starts on every bar it needs, not on the window alone (reproduced: 455 of 720 points, kept for every client)', async () => {
    let refusals = 0;
    const olderBars = (_id: SeriesId, endTime: number, limit: number) => {
      // Spent by someone else's warm-ups: refused once, retry in 1 s.
      if (refusals++ === 0) return Promise.reject(new HistoryRefusedError('too many history requests from this address: retry in 1 s', { info: { reason: 'rate', retryAfterSec: 1 } }));
      return Promise.resolve(exchange.filter((b) => b.openTime <= endTime).slice(-limit));
    };
    const refused = at(3000, 300, { olderBars });
    const whole = at(3000, 300);
    const started = performance.now();
    const [a, b] = await Promise.all([refused.registry.acquire(refused.req('ema'), id).ready, whole.registry.acquire(whole.req('ema'), id).ready]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(refusals).toBeGreaterThan(1);
    expect(a.window.last(10_000).map((p) => [p.time, p.value])).toEqual(b.window.last(10_000).map((p) => [p.time, p.value]));
    refused.registry.stop();
    whole.registry.stop();
  });

  it('an instance that had to start without its older bars (the budget stayed spent) runs again later and sends the points it then has', async () => {
    let refuse = true;
    const olderBars = (_id: SeriesId, endTime: number, limit: number) => {
      // Spent for longer than a warm-up waits.
      if (refuse) return Promise.reject(new HistoryRefusedError('too many history requests from this address: retry in 120 s', { info: { reason: 'rate', retryAfterSec: 120 } }));
      return Promise.resolve(exchange.filter((b) => b.openTime <= endTime).slice(-limit));
    };
    const short = at(3000, 300, { olderBars, rewarmAfterMs: 30 });
    const whole = at(3000, 300);
    const a = await short.registry.acquire(short.req('ema'), id).ready;
    const b = await whole.registry.acquire(whole.req('ema'), id).ready;
    const values = (inst: typeof a) => inst.window.last(10_000).map((p) => [p.time, p.value]);
    expect(values(a)).not.toEqual(values(b));
    const chart = new Map(values(a) as Array<[number, number]>);
    const from = short.published.length;
    refuse = false;
    // It runs again after rewarmAfterMs, in slices a loaded machine may space out: waited for, not slept on.
    await vi.waitFor(() => {
      expect(values(a)).toEqual(values(b));
      // What a chart holding the short start gets: every point it lacked or had wrong.
      expect(upserted(new Map(chart), pointsSince(short.published, from))).toEqual(values(b));
    }, { timeout: 5000 });
    short.registry.stop();
    whole.registry.stop();
  });

  it('a warm-up waiting for the budget ends when the engine stops: nothing read or logged after it', async () => {
    const lines: string[] = [];
    let reads = 0;
    const history = exchange.filter((b) => b.openTime < 3000 * M).slice(-300);
    const olderBars = () => Promise.reject(new HistoryRefusedError('too many history requests from this address: retry in 30 s', { info: { reason: 'rate', retryAfterSec: 30 } }));
    const { registry, req } = at(3000, 300, { olderBars, log: createLogger('info', 'test', (l) => lines.push(l)), history: () => (reads++, history) });
    registry.acquire(req('ema'), id);
    // Many series waiting write one line, not one each (reproduced: a line per series every 10 s).
    for (const symbol of ['ETHUSDT', 'SOLUSDT', 'XRPUSDT', 'ADAUSDT']) registry.acquire(req('ema'), seriesId(symbol, '1m'));
    await sleep(50);
    expect(lines.filter((l) => /waits? for the exchange budget/.test(l))).toHaveLength(1);
    registry.stop();
    const readsAtStop = reads;
    await sleep(50);
    expect(reads).toBe(readsAtStop);
    expect(lines.filter((l) => /could not be fetched/.test(l))).toEqual([]);
  });

  it('warm-ups of many series that start without their older bars log one line for all (reproduced: one a series, ~4 an instance under a flood of symbols)', async () => {
    const lines: string[] = [];
    const history = exchange.filter((b) => b.openTime < 3000 * M).slice(-300);
    const { registry, req } = at(3000, 300, { olderBars: () => Promise.reject(new Error('exchange down')), log: createLogger('info', 'test', (l) => lines.push(l)), history: () => history });
    const symbols = Array.from({ length: 20 }, (_, i) => `S${i}USDT`);
    const leases = symbols.map((symbol) => registry.acquire(req('ema'), seriesId(symbol, '1m')));
    await Promise.all(leases.map((l) => l.ready));
    expect(leases.every((l) => l.instance.state === 'live')).toBe(true);
    expect(lines.filter((l) => /could not be fetched/.test(l))).toHaveLength(1);
    registry.stop();
    // The rest, counted: one line at shutdown.
    expect(lines.filter((l) => /could not be fetched.*repeated 19 more times/.test(l))).toHaveLength(1);
  });

  it('refuses a range whose warm-up cannot be had instead of answering fewer points (reproduced: a cluster edge answered `points: []`)', async () => {
    // The window holds bars 2700..2999: the newest 250 (from 2750) need the 150-bar block before theirs, from 2550.
    const failing = at(3000, 300, { olderBars: () => Promise.reject(new Error('exchange down')) });
    await expect(failing.registry.range(failing.req('ema'), id, undefined, 250)).rejects.toThrow(new SeriesBusyError('could not load the candles: exchange down'));
    const busy = new SeriesBusyError('could not load the candles: no answer');
    const edge = at(3000, 300, { olderBars: () => Promise.reject(new Error('no answer')) });
    await expect(edge.registry.range(edge.req('ema'), id, undefined, 250)).rejects.toThrow(busy);
    // Candles deeper than the source reaches: the same error, not counted as the series' failure.
    await expect(edge.registry.range(edge.req('ema'), id, 1000 * M, 50)).rejects.toThrow(busy);
    expect(edge.errors).toEqual([]);
    // A warm-up inside the window (from 2700) needs no older bars: served.
    expect((await edge.registry.range(edge.req('ema'), id, 2950 * M, 20)).map((p) => p.time)).toEqual(range(2931, 2951).map((b) => b.openTime));
    failing.registry.stop();
    edge.registry.stop();
  });

  it('bounds range work: a few at a time, a short queue, then SeriesBusyError', async () => {
    const slow = at(3000, 500, { olderBars: (_id, endTime, limit) => sleep(30).then(() => exchange.filter((b) => b.openTime <= endTime).slice(-limit)), maxRangeJobs: 1, maxRangeQueue: 2 });
    const runs = Array.from({ length: 5 }, () => slow.registry.range(slow.req('ema'), id, 1200 * M, 10).then(() => 'ok', (e: Error) => e.name));
    expect(await Promise.all(runs)).toEqual(['ok', 'ok', 'ok', 'SeriesBusyError', 'SeriesBusyError']);
    slow.registry.stop();
  });

  it('gives one client address a few of the places, so a flood from it leaves room for others (reproduced: another address got 503 in 3 of 3 rounds)', async () => {
    const slow = at(3000, 500, { olderBars: (_id, endTime, limit) => sleep(30).then(() => exchange.filter((b) => b.openTime <= endTime).slice(-limit)), maxRangeJobs: 1, maxRangeQueue: 8, maxRangePerAddress: 2 });
    const ask = (address: string) => slow.registry.range(slow.req('ema'), id, 1200 * M, 10, address).then(() => 'ok', (e: Error) => e.message);
    const flood = Array.from({ length: 6 }, () => ask('10.0.0.1'));
    const other = ask('10.0.0.2');
    const mine = 'too many derived series requests from this address at once; try again shortly';
    expect(await Promise.all(flood)).toEqual(['ok', 'ok', mine, mine, mine, mine]);
    expect(await other).toBe('ok');
    // Its places come back once its requests end.
    expect(await ask('10.0.0.1')).toBe('ok');
    slow.registry.stop();
  });
});

describe('SeriesRegistry after a hole repaired late', () => {
  it('computes its instances again from the window, so their values include the repaired bars, and follows live bars after', async () => {
    // 300 bars with a hole at 250..252, repaired once the instance is live.
    const history = range(0, 300).filter((b) => b.openTime < 250 * M || b.openTime > 252 * M);
    const repairs = new Subject<Bar>();
    const { registry, live, req } = setup([emaSeries, double], { repairs$: () => repairs.asObservable() }, history);
    const [ema, dbl] = await Promise.all(['ema', 'double'].map((s) => registry.acquire(req(s), id).ready));
    const at = (inst: typeof ema, i: number) => inst!.window.between(i * M, i * M)[0]?.value;
    expect(at(dbl, 251)).toBeUndefined();
    const before = at(ema, 260);
    history.splice(250, 0, ...range(250, 253));
    for (const b of range(250, 253)) repairs.next(b);
    const whole = await registry.range(req('ema'), id, undefined, 60);
    // The hole's points, and the values after it, as a fresh computation over the whole window gives them,
    // once it is live again (`correctedFrom` cleared): it runs again in slices, which a loaded machine spaces out.
    await vi.waitFor(() => {
      expect(at(dbl, 251)).toBe(wave(251).close * 2);
      expect(ema!.window.between(240 * M, 299 * M).map((p) => [p.time, p.value])).toEqual(whole.map((p) => [p.time, p.value]));
      expect(ema!.correctedFrom).toBeUndefined();
    }, { timeout: 5000 });
    expect(at(ema, 260)).not.toBe(before);
    // Live again: the next bar is computed and published.
    history.push(wave(300));
    live.next(wave(300));
    expect(ema!.window.newest()?.time).toBe(300 * M);
    expect(ema!.state).toBe('live');
    registry.stop();
  });

  /** A window read as the store gives it (a copy each time), its hole at 250..252 repaired on `repair()`. */
  function holed(extra: Partial<SeriesRegistryDeps> = {}) {
    let bars = range(0, 300).filter((b) => b.openTime < 250 * M || b.openTime > 252 * M);
    const repairs = new Subject<Bar>();
    // The exchange answers the warm-up's older bars 30 ms later (none: the window starts the series),
    // so a warm-up lasts a while, as a real one does.
    const olderBars = () => sleep(30).then(() => []);
    const rig = setup([emaSeries], { repairs$: () => repairs.asObservable(), history: () => [...bars], sliceBars: 50, olderBars, ...extra }, []);
    return {
      ...rig,
      repair() {
        bars = [...bars, ...range(250, 253)].sort((a, b) => a.openTime - b.openTime);
        for (const b of range(250, 253)) repairs.next(b);
      },
      append(b: Bar) {
        bars = [...bars, b];
        rig.live.next(b);
      },
    };
  }

  it('runs again once live when the repair came while it was warming up (its warm-up read the window before)', async () => {
    const { registry, req, repair } = holed();
    const lease = registry.acquire(req('ema'), id);
    // The warm-up has read the window and is on its way, a slice per turn.
    repair();
    const ema = await lease.ready;
    const whole = await registry.range(req('ema'), id, undefined, 60);
    // It runs again once live, in slices (its state reads 'live' throughout): done when `correctedFrom` is cleared.
    await vi.waitFor(() => {
      expect(ema.window.between(240 * M, 299 * M).map((p) => [p.time, p.value])).toEqual(whole.map((p) => [p.time, p.value]));
      expect(ema.correctedFrom).toBeUndefined();
    }, { timeout: 5000 });
    registry.stop();
  });

  it('sends the points the repair changed once live again (the hole\'s, and the values after it), and no other, so a chart holding the earlier ones is corrected without a reload', async () => {
    const { registry, req, repair, published } = holed();
    const ema = await registry.acquire(req('ema'), id).ready;
    const points = () => ema.window.last(1000).map((p) => [p.time, p.value] as const);
    // What an open chart holds: the snapshot, upserted by time with every series_point after it.
    const chart = new Map(points());
    const sentBefore = published.length;
    repair();
    // It runs again in slices, its state 'live' throughout, and sends what changed once done: waited
    // for (a loaded machine's timer fired between two slices, with nothing sent yet).
    const sent = await vi.waitFor(() => {
      const since = pointsSince(published, sentBefore);
      // The hole's three points are among them.
      expect(since.filter((m) => m.time >= 250 * M && m.time <= 252 * M)).toHaveLength(3);
      expect(upserted(new Map(chart), since)).toEqual(points());
      return since;
    }, { timeout: 5000 });
    expect(ema.state).toBe('live');
    // Nothing the chart had already went out again.
    expect(sent.filter((m) => chart.get(m.time) === m.value)).toEqual([]);
    registry.stop();
  });

  it('sends the points of bars that came while it ran again, once live (a bar closed meanwhile)', async () => {
    const { registry, req, repair, append, published } = holed();
    const ema = await registry.acquire(req('ema'), id).ready;
    repair();
    await sleep(10);
    // Running again (waiting for the exchange): a bar closes meanwhile.
    append(wave(300));
    // Sent once it is live again: its run goes on in slices, which a loaded machine spaces out.
    await vi.waitFor(() => expect(published.map(([, m]) => (JSON.parse(m) as { time: number }).time)).toContain(300 * M), { timeout: 5000 });
    expect(ema.state).toBe('live');
    registry.stop();
  });
});

describe('SeriesRegistry and listeners', () => {
  it('feeds forming bars only to instances someone listens to, following every follow and unfollow', async () => {
    const followed = new Set<string>();
    let version = 0;
    const { registry, live, req } = setup([double], { listening: (t) => followed.has(t), listenersVersion: () => version }, []);
    const [a, b] = await Promise.all(['double', 'double:factor=3'].map((s) => registry.acquire(req(s), id).ready));
    const forming = (inst: typeof a) => inst!.window.last(10).filter((p) => !p.closed).length;
    live.next(bar(1, false));
    expect([forming(a), forming(b)]).toEqual([0, 0]);
    followed.add(b!.topic);
    version++;
    live.next(bar(1, false));
    expect([forming(a), forming(b)]).toEqual([0, 1]);
    live.next(bar(1));
    expect([a!.window.size, b!.window.size]).toEqual([1, 1]);
    followed.delete(b!.topic);
    followed.add(a!.topic);
    version++;
    live.next(bar(2, false));
    expect([forming(a), forming(b)]).toEqual([1, 0]);
    registry.stop();
  });
});

describe('series_point serialization', () => {
  it('equals JSON.stringify of the message, for single and multi values, with non-finite numbers as null', async () => {
    const { seriesPointSerializer } = await import('../../../engine/src/series/series-wire.ts');
    const ser = seriesPointSerializer('ema-cross:fast=5', 'BTCUSDT', '1m');
    expect(JSON.parse(ser({ time: 60_000, values: { fast: 1.5, slow: NaN }, closed: false }))).toEqual({ type: 'series_point', name: 'ema-cross:fast=5', symbol: 'BTCUSDT', interval: '1m', time: 60_000, values: { fast: 1.5, slow: null }, is_closed: false });
    expect(JSON.parse(ser({ time: 1, value: 42.25, closed: true }))).toEqual({ type: 'series_point', name: 'ema-cross:fast=5', symbol: 'BTCUSDT', interval: '1m', time: 1, value: 42.25, is_closed: true });
  });
});

describe('log dedup', () => {
  it('writes a repeated error once, then its count (reproduced: a stack per request)', async () => {
    const { createLogDedup } = await import('../../../engine/src/log-dedup.ts');
    const lines: string[] = [];
    let now = 0;
    const d = createLogDedup(createLogger('info', 't', (l) => lines.push(l)), { periodMs: 1000, now: () => now });
    for (let i = 0; i < 10_000; i++) d.warn('k', 'boom', { i });
    expect(lines).toHaveLength(1);
    now = 1500;
    d.warn('k', 'boom');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/boom \(repeated 9999 more times\)/);
  });
});
