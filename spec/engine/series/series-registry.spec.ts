import { map, type OperatorFunction, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { defineSeries, type SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { SeriesRegistry } from '../../../engine/src/series/series-registry.ts';

const M = 60_000;
const bar = (i: number, closed = true): Bar => ({ openTime: i * M, open: i, high: i + 1, low: i - 1, close: i, volume: 1, closed });

const double = defineSeries({
  name: 'double',
  pane: 'oscillator',
  params: { factor: 2 },
  operator: ({ factor }): OperatorFunction<Bar, SeriesPoint> => {
    if (!(typeof factor === 'number' && factor > 0)) throw new TypeError('double: factor must be > 0');
    return map((b) => ({ time: b.openTime, value: b.close * factor, closed: b.closed }));
  },
});

/** A series of the closes that throws on the bars `fails` picks (while it says so). */
const closesFailingOn = (name: string, fails: (b: Bar) => boolean) =>
  defineSeries({
    name,
    pane: 'overlay',
    params: {},
    operator: () =>
      map((b: Bar): SeriesPoint => {
        if (fails(b)) throw new Error(`${name} failed at ${b.openTime}`);
        return { time: b.openTime, value: b.close, closed: b.closed };
      }),
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let explode = true;
const fragile = closesFailingOn('fragile', (b) => explode && b.openTime === 12 * M);

function setup() {
  const history = [bar(1), bar(2), bar(3)];
  const live = new Subject<Bar>();
  const published: Array<[string, string]> = [];
  const errors: string[] = [];
  const registry = new SeriesRegistry([double, fragile], {
    bufferSize: 100,
    log: silentLogger,
    history: () => history,
    bars$: () => live.asObservable(),
    publish: (t, m) => published.push([t, m()]),
    onError: (n) => errors.push(n),
    restartDelayMs: 1,
  });
  return { registry, live, published, errors, history };
}

describe('SeriesRegistry', () => {
  it('warms a series up over the stored history at once, then follows live bars, publishing each point once', () => {
    const { registry, live, published } = setup();
    const parsed = registry.parse('double', '1m');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const inst = registry.instance(parsed.value[0]!, seriesId('BTCUSDT', '1m'));
    expect(inst.window.last(10).map((p) => p.value)).toEqual([2, 4, 6]);
    live.next(bar(4, false));
    live.next(bar(4));
    expect(inst.window.last(10).map((p) => [p.value, p.closed])).toEqual([[2, true], [4, true], [6, true], [8, true]]);
    expect(published.map(([t]) => t)).toEqual(Array(5).fill('series/double/BTCUSDT/1m'));
    expect(JSON.parse(published[4]![1])).toEqual({ type: 'series_point', name: 'double', symbol: 'BTCUSDT', interval: '1m', time: 4 * M, value: 8, is_closed: true });
    // The same request shares the instance: computed once, whatever the number of clients.
    expect(registry.instance(parsed.value[0]!, seriesId('BTCUSDT', '1m'))).toBe(inst);
    registry.stop();
  });

  it('parses parameters and rejects unknown names and bad values with clear errors', () => {
    const { registry } = setup();
    const ok = registry.parse('double:factor=3', '1m');
    expect(ok.ok && ok.value[0]!.label).toBe('double:factor=3');
    expect(registry.parse('nope', '1m')).toEqual({ ok: false, error: "unknown series 'nope'; available series: double, fragile" });
    expect(registry.parse('double:factor=abc', '1m')).toMatchObject({ ok: false, error: expect.stringMatching(/'factor' must be a number/) });
    expect(registry.parse('double:factor=-1', '1m')).toMatchObject({ ok: false, error: expect.stringMatching(/factor must be > 0/) });
    expect(registry.parse('double:zzz=1', '1m')).toMatchObject({ ok: false, error: expect.stringMatching(/unknown parameter 'zzz'/) });
  });

  it('isolates a series that throws: counted, restarted, other series and later bars unaffected', async () => {
    const { registry, live, errors } = setup();
    const id = seriesId('ETHUSDT', '1m');
    const parsed = registry.parse('fragile,double', '1m');
    if (!parsed.ok) throw new Error(parsed.error);
    const [fr, db] = parsed.value.map((r) => registry.instance(r, id));
    live.next(bar(12));
    expect(errors).toEqual(['fragile']);
    expect(db!.window.last(1)[0]!.value).toBe(24);
    explode = false;
    await sleep(20);
    live.next(bar(13));
    expect(fr!.window.last(1)[0]!.value).toBe(13);
    expect(db!.window.last(1)[0]!.value).toBe(26);
    registry.stop();
  });
});

describe('SeriesRegistry restarts', () => {
  it('a series that throws during its warm-up retries with growing delays, from the stored window, until it runs; stop cancels a pending retry', async () => {
    let failuresLeft = 2;
    const touchy = closesFailingOn('touchy', (b) => b.openTime === 2 * M && failuresLeft-- > 0);
    const live = new Subject<Bar>();
    const errors: number[] = [];
    const deps = { bufferSize: 100, log: silentLogger, history: () => [bar(1), bar(2), bar(3)], bars$: () => live.asObservable(), publish: () => {}, onError: () => errors.push(Date.now()), restartDelayMs: 40 };
    const registry = new SeriesRegistry([touchy], deps);
    const req = registry.parse('touchy', '1m');
    if (!req.ok) throw new Error(req.error);
    const inst = registry.instance(req.value[0]!, seriesId('BTCUSDT', '1m'));
    expect(errors).toHaveLength(1);
    await sleep(200);
    // Two failures (retried after 40 ms, then 80 ms), then a full warm-up over the window.
    expect(errors).toHaveLength(2);
    expect(errors[1]! - errors[0]!).toBeGreaterThanOrEqual(35);
    expect(inst.window.last(10).map((p) => p.value)).toEqual([1, 2, 3]);
    live.next(bar(4));
    expect(inst.window.last(1)[0]!.value).toBe(4);
    registry.stop();

    // A retry pending when the registry stops never runs.
    failuresLeft = 1;
    const again = new SeriesRegistry([touchy], deps);
    const other = again.instance(req.value[0]!, seriesId('ETHUSDT', '1m'));
    expect(other.window.size).toBe(1);
    again.stop();
    await sleep(100);
    expect(other.window.size).toBe(1);
  });
});

describe('SeriesRegistry restarts (factory)', () => {
  it('an operator factory that throws when rebuilt for a restart is retried like a failing series', async () => {
    let builds = 0;
    const bars = closesFailingOn('flaky', (b) => builds === 2 && b.openTime === 2 * M);
    const flaky = defineSeries({
      ...bars,
      operator: () => {
        builds++;
        // Build 1 is parse's validation, 2 the first run (fails on a bar), 3 the first restart.
        if (builds === 3) throw new Error('factory down');
        return bars.operator({});
      },
    });
    const errors: string[] = [];
    const registry = new SeriesRegistry([flaky], { bufferSize: 100, log: silentLogger, history: () => [bar(1), bar(2)], bars$: () => new Subject<Bar>(), publish: () => {}, onError: (n) => errors.push(n), restartDelayMs: 5 });
    const req = registry.parse('flaky', '1m');
    if (!req.ok) throw new Error(req.error);
    const inst = registry.instance(req.value[0]!, seriesId('BTCUSDT', '1m'));
    await sleep(100);
    expect(errors).toEqual(['flaky', 'flaky']);
    expect(builds).toBe(4);
    expect(inst.window.last(10).map((p) => p.value)).toEqual([1, 2]);
    registry.stop();
  });
});

describe('SeriesRegistry and listeners', () => {
  it('feeds forming bars only to instances someone listens to, following every follow and unfollow', () => {
    const followed = new Set<string>();
    let version = 0;
    const live = new Subject<Bar>();
    const registry = new SeriesRegistry([double], {
      bufferSize: 100,
      log: silentLogger,
      history: () => [],
      bars$: () => live.asObservable(),
      publish: () => {},
      listening: (t) => followed.has(t),
      listenersVersion: () => version,
      onError: () => {},
    });
    const req = registry.parse('double,double:factor=3', '1m');
    if (!req.ok) throw new Error(req.error);
    const [a, b] = req.value.map((r) => registry.instance(r, seriesId('BTCUSDT', '1m')));
    const forming = (inst: typeof a) => inst!.window.last(10).filter((p) => !p.closed).length;
    live.next(bar(1, false));
    expect([forming(a), forming(b)]).toEqual([0, 0]);
    followed.add(b!.topic);
    version++;
    live.next(bar(1, false));
    expect([forming(a), forming(b)]).toEqual([0, 1]);
    // Closed bars reach every instance, listened to or not.
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
