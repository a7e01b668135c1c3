import { fc, test } from '@fast-check/vitest';
import { map, type OperatorFunction, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { instanceKeys, instanceMember, isValidInstanceLabel } from '../../../engine/src/cluster/cluster-keys.ts';
import { parseInstanceMember } from '../../../engine/src/cluster/leader-series.ts';
import { decodePoint, encodePoint } from '../../../engine/src/cluster/point-codec.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { InvalidNameError } from '../../../engine/src/domain/errors.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { defineSeries, type SeriesPoint } from '../../../engine/src/series/define-series.ts';
import { SeriesRegistry } from '../../../engine/src/series/series-registry.ts';
import { pointWire } from '../../../engine/src/series/series-wire.ts';
import rsiSeries from '../../../series/rsi.ts';

const id = seriesId('BTCUSDT', '1m');
const scaled = defineSeries({
  name: 'scaled',
  pane: 'overlay',
  params: { factor: 2, source: 'close', shift: false },
  ranges: { factor: { min: 0.5, max: 10, integer: false }, source: { options: ['close', 'open'] } },
  warmup: 0,
  operator: ({ factor, source }): OperatorFunction<Bar, SeriesPoint> => map((b) => ({ time: b.openTime, value: (source === 'open' ? b.open : b.close) * factor, closed: b.closed })),
});
const bar = (i: number, closed = true): Bar => ({ openTime: i * 60_000, open: i, high: i + 1, low: i - 1, close: i + 0.5, volume: 1, closed });

function registry(onPoint?: (label: string, p: SeriesPoint) => void) {
  const live = new Subject<Bar>();
  const r = new SeriesRegistry([scaled, rsiSeries], {
    bufferSize: 100,
    log: silentLogger,
    history: () => [bar(1), bar(2)],
    bars$: () => live.asObservable(),
    publish: () => {},
    onError: () => {},
    ...(onPoint ? { onPoint: (inst: { label: string }, _id: unknown, p: SeriesPoint) => onPoint(inst.label, p) } : {}),
  });
  return { r, live };
}

describe('derived series instances as cluster names', () => {
  it('accepts the labels the registry makes for numbers, booleans and plain words', () => {
    const { r } = registry();
    for (const spec of ['rsi', 'rsi:period=21', 'scaled:factor=2.5;source=open', 'scaled:shift=true']) {
      const parsed = r.parse(spec, '1m');
      if (!parsed.ok) throw new Error(parsed.error);
      expect(isValidInstanceLabel(parsed.value[0]!.label)).toBe(true);
    }
    r.stop();
  });

  it('refuses labels that must not become Redis keys', () => {
    for (const bad of ['', 'RSI', 'rsi:', 'rsi:period', 'rsi:period=', 'a b', 'rsi:period=1|x', 'rsi:x=a b', 'rsi:x={}', 'rsi:x=\n', `rsi:x=${'9'.repeat(65)}`, `${'a'.repeat(41)}`]) {
      expect(isValidInstanceLabel(bad), bad).toBe(false);
      expect(() => instanceKeys(bad, id), bad).toThrow(InvalidNameError);
    }
  });

  it('names the instance log like a bar series log, one set of keys per label and series', () => {
    expect(instanceKeys('rsi:period=21', id, 'p:')).toEqual({
      candles: 'p:points:rsi:period=21|BTCUSDT:1m',
      pos: 'p:spos:rsi:period=21|BTCUSDT:1m',
      hist: 'p:shist:rsi:period=21|BTCUSDT:1m',
      channel: 'p:sch:rsi:period=21|BTCUSDT:1m',
    });
    expect(instanceMember('rsi', id)).toBe('rsi|BTCUSDT:1m');
  });

  it('reads a wanted member back only when the registry would make exactly that label', () => {
    const { r } = registry();
    const m = parseInstanceMember('scaled:factor=2.5;source=open|BTCUSDT:1m', r)!;
    expect(m).toMatchObject({ key: 'scaled:factor=2.5;source=open|BTCUSDT:1m', label: 'scaled:factor=2.5;source=open', bar: id, symbol: 'BTCUSDT', interval: '1m' });
    expect(m.request.params).toMatchObject({ factor: 2.5, source: 'open' });
    for (const bad of [
      'scaled:source=open;factor=2.5|BTCUSDT:1m', // not in the registry's (sorted) form
      'scaled:factor=2|BTCUSDT:1m', // the default: its label is just `scaled`
      'scaled:factor=99|BTCUSDT:1m', // out of range
      'scaled:source=high|BTCUSDT:1m', // not an option
      'nope|BTCUSDT:1m',
      'rsi|btcusdt:1m',
      'rsi|BTCUSDT:7q',
      'rsi',
      '|BTCUSDT:1m',
      `rsi|BTCUSDT:1m${'x'.repeat(400)}`,
    ]) expect(parseInstanceMember(bad, r), bad).toBeUndefined();
    r.stop();
  });

  it('the registry hands every live point to onPoint (the leader writes these), not the warm-up and not a repeat', async () => {
    const seen: Array<[string, SeriesPoint]> = [];
    const { r, live } = registry((label, p) => seen.push([label, p]));
    const parsed = r.parse('scaled', '1m');
    if (!parsed.ok) throw new Error(parsed.error);
    const lease = r.acquire(parsed.value[0]!, id);
    await lease.ready;
    expect(seen).toEqual([]);
    live.next(bar(3));
    live.next(bar(3)); // the same closed bar again: the same point, not handed on twice
    live.next(bar(4, false));
    expect(seen.map(([l, p]) => [l, p.time, p.closed])).toEqual([
      ['scaled', 3 * 60_000, true],
      ['scaled', 4 * 60_000, false],
    ]);
    lease.release();
    r.stop();
  });
});

describe('registry hooks the leader uses', () => {
  it('onState is called when an instance goes live, fails, and recovers (the leader writes its status, and its window again once live)', async () => {
    let explode = true;
    const fragile = defineSeries({
      name: 'fragile',
      pane: 'overlay',
      params: {},
      warmup: 0,
      operator: () =>
        map((b: Bar): SeriesPoint => {
          if (explode && b.openTime === 5 * 60_000) throw new Error('boom');
          return { time: b.openTime, value: b.close, closed: b.closed };
        }),
    });
    const live = new Subject<Bar>();
    const lives: string[] = [];
    const points: number[] = [];
    const r = new SeriesRegistry([fragile], {
      bufferSize: 100,
      log: silentLogger,
      history: () => [bar(1), bar(2)],
      bars$: () => live.asObservable(),
      publish: () => {},
      onError: () => {},
      restartDelayMs: 1,
      onState: (inst) => lives.push(inst.state),
      onPoint: (_inst, _id, p) => points.push(p.time / 60_000),
    });
    const parsed = r.parse('fragile', '1m');
    if (!parsed.ok) throw new Error(parsed.error);
    const lease = r.acquire(parsed.value[0]!, id);
    await lease.ready;
    expect(lives).toEqual(['live']);
    live.next(bar(5));
    expect(lease.instance.state).toBe('failed');
    expect(lives).toEqual(['live', 'failed']);
    explode = false;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(lives).toEqual(['live', 'failed', 'live']);
    live.next(bar(6));
    expect(points).toEqual([6]);
    lease.release();
    r.stop();
  });
});

describe('point codec', () => {
  const value = fc.oneof(fc.double(), fc.constant(Number.NaN));
  const point = fc.record({
    time: fc.integer({ min: 0, max: 2 ** 45 }),
    closed: fc.boolean(),
    v: fc.oneof(value.map((x) => ({ value: x })), fc.dictionary(fc.constantFrom('fast', 'slow', 'signal', 'macd'), value).map((values) => ({ values }))),
  });
  const wire = (p: SeriesPoint) => JSON.stringify(pointWire(p));

  test.prop([point])('decode(encode(p)) is p as the wire shows it (non-finite numbers as null)', ({ time, closed, v }) => {
    const p: SeriesPoint = { time, closed, ...v };
    const back = decodePoint(encodePoint(p))!;
    expect(back).toBeDefined();
    expect(wire(back)).toBe(wire(p));
    // The member is stable: a recomputed point encodes to the same bytes (the version check relies on it).
    expect(encodePoint(back)).toBe(encodePoint(p));
  });

  it('refuses malformed members', () => {
    for (const bad of ['', 'x', '[]', '[1,1]', '[1,2,3]', '[1.5,1,3]', '["1",1,3]', '[1,1,"3"]', '[1,1,[3]]', '[1,1,{"a":"x"}]', '[1,1,3,4]', `[1,1,${'1'.repeat(5000)}]`]) {
      expect(decodePoint(bad), bad).toBeUndefined();
    }
    expect(decodePoint('[60000,0,null]')).toMatchObject({ time: 60000, closed: false });
  });
});
