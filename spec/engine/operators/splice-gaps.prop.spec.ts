import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { from, map, of, tap, throwError, type Observable } from 'rxjs';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { spliceGaps, type SeriesInput, type SpliceEvent } from '../../../engine/src/operators/splice-gaps.ts';

const M = 60_000;
const T0 = 1_700_000_040_000;

/** The true closed series: bar i opens at T0 + i minutes. */
function truthBar(i: number): Bar {
  const open = 100 + ((i * 7919) % 97);
  const close = 100 + (((i + 1) * 7919) % 97);
  return { openTime: T0 + i * M, open, high: Math.max(open, close) + 1, low: Math.min(open, close) - 1, close, volume: 10 + (i % 13), closed: true };
}
/** A forming update k of bar i (values drift toward the final). */
function formingBar(i: number, k: number): Bar {
  const t = truthBar(i);
  return { ...t, close: t.open + k, high: Math.max(t.open, t.open + k), low: Math.min(t.open, t.open + k), volume: k, closed: false };
}

const arbScenario = fc.record({
  length: fc.integer({ min: 1, max: 40 }),
  perBar: fc.array(
    fc.record({ present: fc.boolean(), updates: fc.integer({ min: 0, max: 3 }), final: fc.boolean(), dupFinal: fc.boolean() }),
    { minLength: 40, maxLength: 40 },
  ),
  swaps: fc.array(fc.nat(), { maxLength: 10 }),
  resyncAt: fc.array(fc.nat(), { maxLength: 3 }),
});

/** Builds the live input: some bars missing (gaps), finals omitted, duplicates, adjacent swaps, resyncs. */
type Scenario = typeof arbScenario extends fc.Arbitrary<infer T> ? T : never;

function buildInput(s: Scenario): SeriesInput[] {
  const events: SeriesInput[] = [];
  for (let i = 1; i < s.length; i++) {
    const p = s.perBar[i]!;
    // The last bar is always present so the property can talk about a known end.
    if (!p.present && i !== s.length - 1) continue;
    for (let k = 0; k < p.updates; k++) events.push({ type: 'bar', bar: formingBar(i, k) });
    if (p.final || i === s.length - 1) events.push({ type: 'bar', bar: truthBar(i) });
    if (p.dupFinal) events.push({ type: 'bar', bar: truthBar(i) });
  }
  for (const sw of s.swaps) {
    const j = sw % Math.max(1, events.length - 1);
    if (events.length > 1) [events[j], events[j + 1]] = [events[j + 1]!, events[j]!];
  }
  for (const r of s.resyncAt) events.splice(r % (events.length + 1), 0, { type: 'resync' });
  return events;
}

function run(input: SeriesInput[], fetch: (from: number, to: number | undefined) => Observable<Bar[]>) {
  const out: SpliceEvent[] = [];
  let fetches = 0;
  from(input)
    .pipe(
      spliceGaps({
        interval: '1m',
        seed: () => truthBar(0),
        fetchRange: (a, b) => {
          fetches++;
          return fetch(a, b);
        },
        retryCount: 0,
      }),
    )
    .subscribe({ next: (e) => out.push(e), error: (e: unknown) => { throw e; } })
    .unsubscribe(); // synchronous: done when subscribe returns
  return { out, fetches };
}

describe('spliceGaps (property)', () => {
  test.prop([arbScenario], { numRuns: 300 })('closed bars strictly increase, are contiguous, equal truth, and keep every input open time', (s) => {
    const input = buildInput(s);
    let maxSeen = 0;
    for (const e of input) if (e.type === 'bar') maxSeen = Math.max(maxSeen, e.bar.openTime);
    // REST truth: every bucket up to the newest seen is final (the exchange has closed them).
    const rest = (a: number, b: number | undefined) => {
      const bars: Bar[] = [];
      for (let t = a; t <= (b ?? maxSeen); t += M) bars.push(truthBar((t - T0) / M));
      return of(bars);
    };
    const { out } = run(input, rest);
    const bars = out.flatMap((e) => (e.type === 'bar' ? [e.bar] : []));
    // Ordering: open times never go back.
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime).toBeGreaterThanOrEqual(bars[i - 1]!.openTime);
    // Closed bars: strictly increasing, unique, equal to truth.
    const closed = bars.filter((b) => b.closed);
    for (let i = 1; i < closed.length; i++) expect(closed[i]!.openTime).toBeGreaterThan(closed[i - 1]!.openTime);
    for (const b of closed) expect(b).toEqual(truthBar((b.openTime - T0) / M));
    // Contiguous: every bucket after the seed up to the newest closed one is there, closed.
    if (closed.length) {
      const newest = closed[closed.length - 1]!.openTime;
      expect(closed.map((b) => b.openTime)).toEqual(Array.from({ length: (newest - T0) / M }, (_, i) => T0 + (i + 1) * M));
    }
    // Every input open time (after the seed) appears in the output.
    const outTimes = new Set(bars.map((b) => b.openTime));
    for (const e of input) if (e.type === 'bar' && e.bar.openTime > T0) expect(outTimes.has(e.bar.openTime)).toBe(true);
  });

  // A timeline of the exchange's pushes (updates inside each minute, the final 100 ms after it ends), cut
  // by outages; each reconnect sends a resync stamped with a lower bound of the time (up to 1.5 s early).
  // REST answers what the exchange had at the time of the input being handled. A resync of a series
  // whose bar still forms is skipped, so what an outage lost may only come from the next live bar's fill.
  const arbTimeline = fc.record({
    length: fc.integer({ min: 1, max: 30 }),
    updates: fc.array(fc.array(fc.integer({ min: 0, max: M - 1 }), { maxLength: 3 }), { minLength: 30, maxLength: 30 }),
    outages: fc.array(fc.record({ at: fc.integer({ min: 0, max: 30 * M }), len: fc.integer({ min: 0, max: 3 * M }), lag: fc.integer({ min: 0, max: 1500 }) }), { maxLength: 4 }),
  });
  test.prop([arbTimeline], { numRuns: 500 })('resyncs stamped with the time: closed bars still equal truth, contiguous, up to the last final', (tl) => {
    const pushes: Array<{ t: number; input: SeriesInput }> = [];
    for (let i = 1; i <= tl.length; i++) {
      const offsets = [...tl.updates[i - 1]!].sort((a, b) => a - b);
      offsets.forEach((o, k) => pushes.push({ t: T0 + i * M + o, input: { type: 'bar', bar: formingBar(i, k) } }));
      pushes.push({ t: T0 + (i + 1) * M + 100, input: { type: 'bar', bar: truthBar(i) } });
    }
    const end = pushes.at(-1)!.t;
    const lost = (t: number) => t !== end && tl.outages.some((o) => t >= T0 + o.at && t <= T0 + o.at + o.len);
    const timeline = pushes.filter((p) => !lost(p.t));
    for (const o of tl.outages) {
      const back = T0 + o.at + o.len;
      if (back < end) timeline.push({ t: back, input: { type: 'resync', at: back - o.lag } });
    }
    timeline.sort((a, b) => a.t - b.t);
    let clock = T0;
    const rest = (a: number, b: number | undefined): Observable<Bar[]> => {
      const bars: Bar[] = [];
      for (let t = a; t <= (b ?? clock); t += M) {
        const i = (t - T0) / M;
        if (t + M <= clock) bars.push(truthBar(i));
        else if (t <= clock) bars.push(formingBar(i, 9)); // forming at the time of asking
      }
      return of(bars);
    };
    const out: SpliceEvent[] = [];
    from(timeline)
      .pipe(
        tap((p) => (clock = p.t)),
        map((p) => p.input),
        spliceGaps({ interval: '1m', seed: () => truthBar(0), fetchRange: rest, retryCount: 0 }),
      )
      .subscribe((e) => out.push(e))
      .unsubscribe();
    const closed = out.flatMap((e) => (e.type === 'bar' && e.bar.closed ? [e.bar] : []));
    expect(closed.map((b) => (b.openTime - T0) / M)).toEqual(Array.from({ length: tl.length }, (_, i) => i + 1));
    for (const b of closed) expect(b).toEqual(truthBar((b.openTime - T0) / M));
  });

  test.prop([fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 3 })])('a gapless stream with every final causes no fetch', (n, updates) => {
    const input: SeriesInput[] = [];
    for (let i = 1; i <= n; i++) {
      for (let k = 0; k < updates; k++) input.push({ type: 'bar', bar: formingBar(i, k) });
      input.push({ type: 'bar', bar: truthBar(i) });
    }
    const { out, fetches } = run(input, () => of([]));
    expect(fetches).toBe(0);
    expect(out.filter((e) => e.type === 'bar' && e.bar.closed)).toHaveLength(n);
  });

  test.prop([fc.integer({ min: 3, max: 30 })])('a fill that keeps failing is reported, never kills the stream, and is repaired later', (n) => {
    let fail = true;
    const input: SeriesInput[] = [{ type: 'bar', bar: truthBar(n) }];
    for (let i = n + 1; i <= n + 3; i++) input.push({ type: 'bar', bar: truthBar(i) });
    const out: SpliceEvent[] = [];
    const now = { t: 0 };
    from(input)
      .pipe(
        spliceGaps({
          interval: '1m',
          seed: () => truthBar(0),
          retryCount: 0,
          repairAfterMs: 0,
          scheduler: { now: () => now.t, schedule: () => { throw new Error('no timers expected'); } } as never,
          fetchRange: (a, b) => {
            if (fail) {
              fail = false;
              return throwError(() => new Error('HTTP 500'));
            }
            const bars: Bar[] = [];
            for (let t = a; t <= (b ?? 0); t += M) bars.push(truthBar((t - T0) / M));
            return of(bars);
          },
        }),
      )
      .subscribe((e) => out.push(e))
      .unsubscribe();
    expect(out.filter((e) => e.type === 'gap-unfilled')).toHaveLength(1);
    const live = out.filter((e) => e.type === 'bar' && e.origin === 'live');
    expect(live).toHaveLength(4);
    const repaired = out.flatMap((e) => (e.type === 'bar' && e.origin === 'repair' ? [e.bar.openTime] : []));
    expect(repaired).toEqual(Array.from({ length: n - 1 }, (_, i) => T0 + (i + 1) * M));
  });
});
