import { describe, expect, it } from 'vitest';
import { mergeMap, of, take, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { spliceGaps, type SeriesInput, type SpliceEvent } from '../../../engine/src/operators/splice-gaps.ts';

const M = 60_000;
const T0 = 1_700_000_040_000;
const bar = (i: number, closed = true, close = 100 + i): Bar => ({ openTime: T0 + i * M, open: 100, high: 200, low: 50, close, volume: i, closed });
const live = (i: number, closed = true, close?: number): SeriesInput => ({ type: 'bar', bar: bar(i, closed, close) });
const out = (i: number, origin: 'live' | 'fill' = 'live', closed = true, close?: number): SpliceEvent => ({ type: 'bar', bar: bar(i, closed, close), origin });

function scheduler() {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('spliceGaps (marbles)', () => {
  it('passes a contiguous stream through, upserting the forming bar and dropping duplicates', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot('-a-b-c-c-d-|', { a: live(1, false, 1), b: live(1, false, 2), c: live(1), d: live(2, false) });
      const fetch = cold<Bar[]>('|');
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a-b-c---d-|', {
        a: out(1, 'live', false, 1),
        b: out(1, 'live', false, 2),
        c: out(1),
        d: out(2, 'live', false),
      });
    });
  });

  it('fetches a gap once, splices it in order before the live bar, and buffers what arrives meanwhile', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const src = hot('-a--d-e---------|', { a: live(1), d: live(4, false), e: live(4, true, 7) });
      const fetch = cold('---(x|)', { x: [bar(2), bar(3)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a--g--(bcfde)--|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 4 * M - 1, reason: 'skip' },
        b: out(2, 'fill'),
        c: out(3, 'fill'),
        f: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 4 * M - 1, bars: 2 },
        d: out(4, 'live', false),
        e: out(4, 'live', true, 7),
      });
      expectSubscriptions(fetch.subscriptions).toBe('----^--!');
    });
  });

  it('keeps only the newest update of the forming bar that waits for a fill (reproduced: a hung fill queued every frame, 2 GB)', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      // e and f update bar 4 while its gap's fill is in flight; h is its final: each takes the place of the one before.
      const src = hot('-a--d-e-f-h-----------|', { a: live(1), d: live(4, false, 1), e: live(4, false, 2), f: live(4, false, 3), h: live(4, true, 9) });
      const fetch = cold('--------(x|)', { x: [bar(2), bar(3)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a--g-------(bcFdh)---|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 4 * M - 1, reason: 'skip' },
        b: out(2, 'fill'),
        c: out(3, 'fill'),
        F: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 4 * M - 1, bars: 2 },
        d: out(4, 'live', false, 1),
        h: out(4, 'live', true, 9),
      });
    });
  });

  it('finalises from REST a bar whose final update never came', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot('-a-b--------|', { a: live(1, false), b: live(2, false) });
      const fetch = cold('(x|)', { x: [bar(1)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a-(gxfb)---|', {
        a: out(1, 'live', false),
        g: { type: 'gap', from: T0 + M, to: T0 + 2 * M - 1, reason: 'unclosed' },
        x: out(1, 'fill'),
        f: { type: 'gap-filled', from: T0 + M, to: T0 + 2 * M - 1, bars: 1 },
        b: out(2, 'live', false),
      });
    });
  });

  it('re-syncs from the forming bar after a reconnect', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot<SeriesInput>('-a-r--------|', { a: live(1, false), r: { type: 'resync' } });
      const fetch = cold('-(x|)', { x: [bar(1), bar(2), bar(3, false)] });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }));
      expectObservable(events).toBe('-a-g(xyzf)--|', {
        a: out(1, 'live', false),
        g: { type: 'gap', from: T0 + M, to: 3, reason: 'resync' },
        x: out(1, 'fill'),
        y: out(2, 'fill'),
        z: out(3, 'fill', false),
        f: { type: 'gap-filled', from: T0 + M, to: 4, bars: 3 },
      });
    });
  });

  it("lets the stream's final replace a bar only REST called closed, and nothing after it (issue 14)", () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      // The seed came from REST judged closed, but with partial values (close 1): its forming update
      // is dropped, its final (close 100) replaces it, a duplicate final does not.
      const src = hot('-a-b-c-d-|', { a: live(0, false, 7), b: live(0), c: live(0), d: live(0, true, 9) });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0, true, 1), fetchRange: () => cold<Bar[]>('|') }));
      expectObservable(events).toBe('---b-----|', { b: out(0) });
    });
  });

  it('re-syncs from a bar only REST called closed, whose final may have been lost with the connection', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const src = hot<SeriesInput>('-r-----|', { r: { type: 'resync' } });
      const fetch = cold('-(x|)', { x: [bar(0), bar(1, false)] });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0, true, 1), fetchRange: () => fetch }));
      expectObservable(events).toBe('-g(xyf)|', {
        g: { type: 'gap', from: T0, to: 1, reason: 'resync' },
        x: out(0, 'fill'),
        y: out(1, 'fill', false),
        f: { type: 'gap-filled', from: T0, to: 2, bars: 2 },
      });
      expectSubscriptions(fetch.subscriptions).toBe('-^!');
    });
  });

  it("re-syncs from the next bar when the stream's own final closed the last one", () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot<SeriesInput>('-a-r----|', { a: live(1), r: { type: 'resync' } });
      const fetch = cold('-(x|)', { x: [bar(2, false)] });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }));
      expectObservable(events).toBe('-a-g(yf)|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: 3, reason: 'resync' },
        y: out(2, 'fill', false),
        f: { type: 'gap-filled', from: T0 + 2 * M, to: 4, bars: 1 },
      });
    });
  });

  it('skips a resync stamped while the newest bar still forms (its bucket open 2 s past the stamp): nothing closed meanwhile', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      // Bar 1 forms over [T0 + M, T0 + 2M): a reconnect 2.5 s before its end lost nothing.
      const src = hot<SeriesInput>('-a-r-b-|', { a: live(1, false), r: { type: 'resync', at: T0 + 2 * M - 2500 }, b: live(1, false, 7) });
      const fetch = cold<Bar[]>('-(x|)', { x: [] });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }));
      expectObservable(events).toBe('-a---b-|', { a: out(1, 'live', false), b: out(1, 'live', false, 7) });
      expectSubscriptions(fetch.subscriptions).toBe([]);
    });
  });

  it('re-syncs when the bucket ends within 2 s of the stamp, or the newest bar is closed', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot<SeriesInput>('-a-r-----|', { a: live(1, false), r: { type: 'resync', at: T0 + 2 * M - 1500 } });
      const fetch = cold('-(x|)', { x: [bar(1), bar(2, false)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a-g(xyf)|', {
        a: out(1, 'live', false),
        g: { type: 'gap', from: T0 + M, to: 3, reason: 'resync' },
        x: out(1, 'fill'),
        y: out(2, 'fill', false),
        f: { type: 'gap-filled', from: T0 + M, to: 4, bars: 2 },
      });
    });
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot<SeriesInput>('-a-r----|', { a: live(1), r: { type: 'resync', at: T0 + M + 1000 } });
      const fetch = cold('-(x|)', { x: [bar(2, false)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a-g(yf)|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: 3, reason: 'resync' },
        y: out(2, 'fill', false),
        f: { type: 'gap-filled', from: T0 + 2 * M, to: 4, bars: 1 },
      });
    });
  });

  it('a second drop while the first resync waits for budget: its resync is skipped once the first fill brought the bar forming after it', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      // The first fill is answered at frame 8, past the second reconnect (frame 4, stamped inside bar 3's
      // bucket): its forming bar 3 covers both outages.
      const src = hot<SeriesInput>('-a-r-r----------|', { a: live(1, false), r: { type: 'resync', at: T0 + 3 * M + 5000 } });
      const fetch = cold('-----(x|)', { x: [bar(1), bar(2), bar(3, false)] });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }));
      expectObservable(events).toBe('-a-g----(xyzf)--|', {
        a: out(1, 'live', false),
        g: { type: 'gap', from: T0 + M, to: 3, reason: 'resync' },
        x: out(1, 'fill'),
        y: out(2, 'fill'),
        z: out(3, 'fill', false),
        f: { type: 'gap-filled', from: T0 + M, to: 8, bars: 3 },
      });
      expectSubscriptions(fetch.subscriptions).toBe('---^----!');
    });
  });

  it('passes a source error through', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const src = hot('-a-#', { a: live(1) });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => cold<Bar[]>('|') }))).toBe('-a-#', { a: out(1) });
    });
  });

  it('retries a failing fill, then reports it as gap-unfilled without erroring', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const src = hot('-a-c---------|', { a: live(1), c: live(3) });
      const fetch = cold<Bar[]>('#');
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch, retryCount: 2, retryDelayMs: 2 }));
      const unfilled = (e: SpliceEvent) => (e.type === 'gap-unfilled' ? { type: e.type, info: e.error.info } : e);
      expectObservable(events.pipe(mergeMap((e) => of(unfilled(e))))).toBe('-a-g-----(uc)|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 3 * M - 1, reason: 'skip' },
        u: { type: 'gap-unfilled', info: { key: '?', from: T0 + 2 * M, to: T0 + 3 * M - 1, attempt: 3 } },
        c: out(3),
      });
      // first try at 3, retries after 2 and 4 frames
      expectSubscriptions(fetch.subscriptions).toBe(['---(^!)', '-----(^!)', '---------(^!)']);
    });
  });

  it('gives up a fill at its deadline, lets the held live updates go on, and repairs the hole later (reproduced: a dripping exchange held them 178 s)', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      // Bar 3 reveals the hole 2..2; the fill never answers. At its deadline (5 frames) the updates
      // that waited go out; bar 5, past GAP_REPAIR_AFTER_MS (15 frames), repairs the hole first.
      const src = hot('-a-c-d-------------------e--------------|', { a: live(1), c: live(3, false, 1), d: live(3, false, 2), e: live(5, false) });
      const hung = cold<Bar[]>('-');
      const answered = cold('(x|)', { x: [bar(2), bar(3), bar(4)] });
      let calls = 0;
      const fetchRange = () => (calls++ === 0 ? hung : answered);
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange, fillDeadlineMs: 5, repairAfterMs: 15 }));
      const unfilled = (e: SpliceEvent) => (e.type === 'gap-unfilled' ? { type: e.type, info: e.error.info, cause: (e.error.cause as Error).message } : e);
      expectObservable(events.pipe(mergeMap((e) => of(unfilled(e))))).toBe('-a-g----(ucd)------------(GveFryzf)-----|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 3 * M - 1, reason: 'skip' },
        u: { type: 'gap-unfilled', info: { key: '?', from: T0 + 2 * M, to: T0 + 3 * M - 1, attempt: 4 }, cause: 'no answer within 5 ms' },
        c: out(3, 'live', false, 1),
        d: out(3, 'live', false, 2),
        // Bar 5's own gap (bar 3 never closed live, 4 is missing): REST failed last, so it goes straight
        // to a repair and bar 5 is not held. Beside it, the repair of bar 2, then of 3 and 4.
        G: { type: 'gap', from: T0 + 3 * M, to: T0 + 5 * M - 1, reason: 'skip' },
        v: { type: 'gap-unfilled', info: { key: '?', from: T0 + 3 * M, to: T0 + 5 * M - 1, attempt: 0 }, cause: "left to a repair: the series' last REST answer failed" },
        e: out(5, 'live', false),
        F: { type: 'bar', bar: bar(2), origin: 'repair' },
        r: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 3 * M - 1, bars: 1 },
        y: { type: 'bar', bar: bar(3), origin: 'repair' },
        z: { type: 'bar', bar: bar(4), origin: 'repair' },
        f: { type: 'gap-filled', from: T0 + 3 * M, to: T0 + 5 * M - 1, bars: 2 },
      });
      expectSubscriptions(hung.subscriptions).toBe('---^----!');
    });
  });

  it('waits twice as long after each failed repair of a hole, the live updates going on beside it', () => {
    const ts = scheduler();
    const tried: number[] = [];
    ts.run(({ cold, hot, expectObservable }) => {
      // a reveals the hole at frame 1; later updates of bar 3 come at 12, 20, 33, 60 and 74.
      const src = hot('-a 10ms b 7ms c 12ms d 26ms e 13ms f 5ms |', { a: live(3, false, 1), b: live(3, false, 2), c: live(3, false, 3), d: live(3, false, 4), e: live(3, false, 5), f: live(3, false, 6) });
      const fetchRange = () => (tried.push(ts.now()), cold<Bar[]>('#'));
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange, retryCount: 0, repairAfterMs: 10 }));
      expectObservable(events.pipe(mergeMap((e) => of(e.type)))).toBe('-(gub) 6ms (bu) 4ms b 12ms (bu) 23ms b 13ms (bu) 2ms |', { g: 'gap', u: 'gap-unfilled', b: 'bar' });
    });
    // The fill at 1; repairs 10 frames after it (12), then 20 (33), then 40 (74): 60 is too early.
    expect(tried).toEqual([1, 12, 33, 74]);
  });

  it('while REST fails for the series, leaves a new gap to a repair without holding the live updates; once it answers, every hole waiting is due', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot('-a-c-----e----f----------|', { a: live(1), c: live(3), e: live(5, false, 1), f: live(5, false, 7) });
      const answers = [cold<Bar[]>('#'), cold('(x|)', { x: [bar(4)] }), cold('(x|)', { x: [bar(2)] })];
      let calls = 0;
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => answers[calls++]!, retryCount: 0, repairAfterMs: 20 }));
      const unfilled = (e: SpliceEvent) => (e.type === 'gap-unfilled' ? { type: e.type, from: e.error.info.from } : e);
      expectObservable(events.pipe(mergeMap((e) => of(unfilled(e))))).toBe('-a-(guc)-(Gve)(fABCD)----|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 3 * M - 1, reason: 'skip' },
        u: { type: 'gap-unfilled', from: T0 + 2 * M },
        c: out(3),
        // Bar 5 reveals bar 4 missing: not fetched before it (REST failed last), bar 5 goes out at once.
        G: { type: 'gap', from: T0 + 4 * M, to: T0 + 5 * M - 1, reason: 'skip' },
        v: { type: 'gap-unfilled', from: T0 + 4 * M },
        e: out(5, 'live', false, 1),
        f: out(5, 'live', false, 7),
        // The next update repairs bar 4 beside it; REST answered, so bar 2's hole (due at 23) goes at once.
        A: { type: 'bar', bar: bar(4), origin: 'repair' },
        B: { type: 'gap-filled', from: T0 + 4 * M, to: T0 + 5 * M - 1, bars: 1 },
        C: { type: 'bar', bar: bar(2), origin: 'repair' },
        D: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 3 * M - 1, bars: 1 },
      });
    });
  });

  it('gives a hole up after 8 failed repairs (the store keeps it; a restart fetches it again)', () => {
    const ts = scheduler();
    let calls = 0;
    const messages: string[] = [];
    ts.run(({ cold, hot }) => {
      // An update every frame for 200 frames: repairs due 1, 2, 4, 8, 8… frames after each failure.
      const src = hot(`-a${'b'.repeat(200)}|`, { a: live(3, false, 1), b: live(3, false, 2) });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => (calls++, cold<Bar[]>('#')), retryCount: 0, repairAfterMs: 1 }));
      const sub = events.subscribe((e) => e.type === 'gap-unfilled' && messages.push(e.error.message));
      ts.schedule(() => sub.unsubscribe(), 300);
    });
    expect(calls).toBe(9);
    expect(messages).toHaveLength(9);
    expect(messages.at(-1)).toMatch(/given up after 8 repairs/);
  });

  it('takes an empty answer for an ended range as a failure, repairs beside the live updates, and keeps only the hole\'s bars (reproduced: `[]` left a hole for good; a hung repair froze the chart)', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot('-a-c------d--e-----------f-----|', { a: live(1), c: live(3), d: live(4, false), e: live(4), f: live(5, false) });
      // First the exchange answers [] for the hole; the first repair hangs; the second gets rows
      // around the hole too.
      const answers = [cold('(x|)', { x: [] as Bar[] }), cold<Bar[]>('-'), cold('(x|)', { x: [bar(1), bar(2), bar(3), bar(9)] })];
      let calls = 0;
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => answers[calls++]!, retryCount: 0, repairAfterMs: 5, fillDeadlineMs: 4 }));
      const unfilled = (e: SpliceEvent) => (e.type === 'gap-unfilled' ? { type: e.type, cause: (e.error.cause as Error).message } : e);
      expectObservable(events.pipe(mergeMap((e) => of(unfilled(e))))).toBe('-a-(guc)--d--ev----------(fFr)-|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 3 * M - 1, reason: 'skip' },
        u: { type: 'gap-unfilled', cause: `the exchange's answer lacks every bar from ${new Date(T0 + 2 * M).toISOString()}` },
        c: out(3),
        // The repair hangs from frame 10: the updates of bar 4 are not held.
        d: out(4, 'live', false),
        e: out(4),
        v: { type: 'gap-unfilled', cause: 'no answer within 4 ms' },
        f: out(5, 'live', false),
        F: { type: 'bar', bar: bar(2), origin: 'repair' },
        r: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 3 * M - 1, bars: 1 },
      });
    });
  });

  it("splices the rows the exchange has after a hole of its own in the missing buckets (reproduced: refused for lacking the first, given up, none filled)", () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      // 1, then 5: the exchange has no row for 2 (its outage), but has 3 and 4.
      const src = hot('-a-e---------|', { a: live(1), e: live(5) });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => cold('(x|)', { x: [bar(3), bar(4)] }), retryCount: 0 }));
      expectObservable(events).toBe('-a-(gBCfe)---|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 5 * M - 1, reason: 'skip' },
        B: out(3, 'fill'),
        C: out(4, 'fill'),
        f: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 5 * M - 1, bars: 2 },
        e: out(5),
      });
    });
  });

  it("takes the exchange's own hole (the bar after it there, none in it) as filled: asked once, not repaired (reproduced: 36 calls per series over 23 min)", () => {
    const asked: [number, number | undefined][] = [];
    scheduler().run(({ cold, hot, expectObservable }) => {
      // The exchange has no rows for 2 and 3 (its outage); it answers any range from what it has.
      const exchange = [bar(0), bar(1), bar(4, false)];
      const fetchRange = (a: number, b: number | undefined) => {
        asked.push([a, b]);
        return cold('-(x|)', { x: exchange.filter((x) => x.openTime >= a && (b === undefined || x.openTime <= b)) });
      };
      const src = hot('-a-d----e--------------f-|', { a: live(1), d: live(4, false), e: live(4), f: live(5, false) });
      const events = src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange, retryCount: 0, repairAfterMs: 5 }));
      expectObservable(events).toBe('-a-g(Fd)e--------------f-|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 4 * M - 1, reason: 'skip' },
        F: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 4 * M - 1, bars: 0 },
        d: out(4, 'live', false),
        e: out(4),
        f: out(5, 'live', false),
      });
    });
    // The bar after the hole asked with it; never asked again.
    expect(asked).toEqual([[T0 + 2 * M, T0 + 4 * M]]);
  });

  it('drops a forming update older than the one kept (less volume: kline streams promise no order)', () => {
    const forming = (volume: number, close: number): SeriesInput => ({ type: 'bar', bar: { ...bar(1, false, close), volume } });
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot('-a-b-c-d-|', { a: forming(5, 1), b: forming(3, 2), c: forming(5, 3), d: live(1) });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => cold<Bar[]>('|') }))).toBe('-a---c-d-|', {
        a: { type: 'bar', bar: { ...bar(1, false, 1), volume: 5 }, origin: 'live' },
        c: { type: 'bar', bar: { ...bar(1, false, 3), volume: 5 }, origin: 'live' },
        d: out(1),
      });
    });
  });

  it('keeps the newer of two forming updates queued behind a fill when they arrive out of order (reproduced: the older one took its place)', () => {
    const forming = (volume: number): SeriesInput => ({ type: 'bar', bar: { ...bar(4, false, 100 + volume), volume } });
    scheduler().run(({ cold, hot, expectObservable }) => {
      const src = hot('-a--d-e-f-------------|', { a: live(1), d: forming(1), e: forming(5), f: forming(3) });
      const fetch = cold('--------(x|)', { x: [bar(2), bar(3)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch }))).toBe('-a--g-------(bcFde)---|', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 4 * M - 1, reason: 'skip' },
        b: out(2, 'fill'),
        c: out(3, 'fill'),
        F: { type: 'gap-filled', from: T0 + 2 * M, to: T0 + 4 * M - 1, bars: 2 },
        d: { type: 'bar', bar: { ...bar(4, false, 101), volume: 1 }, origin: 'live' },
        e: { type: 'bar', bar: { ...bar(4, false, 105), volume: 5 }, origin: 'live' },
      });
    });
  });

  it('cancels the fill in flight on early unsubscribe', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const src = hot('-a-c-----|', { a: live(1), c: live(3) });
      const fetch = cold('-----(x|)', { x: [bar(2)] });
      expectObservable(src.pipe(spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => fetch })), '^----!').toBe('-a-g-', {
        a: out(1),
        g: { type: 'gap', from: T0 + 2 * M, to: T0 + 3 * M - 1, reason: 'skip' },
      });
      expectSubscriptions(fetch.subscriptions).toBe('---^-!');
    });
  });

  it('works after mergeMap(x => of(x)) and stops a synchronous source with take', () => {
    const seen: SpliceEvent[] = [];
    const src: Observable<SeriesInput> = of(live(1), live(2), live(3), live(4));
    src
      .pipe(
        mergeMap((x) => of(x)),
        spliceGaps({ interval: '1m', seed: () => bar(0), fetchRange: () => of([]) }),
        take(2),
      )
      .subscribe((e) => seen.push(e));
    expect(seen).toEqual([out(1), out(2)]);
  });

  it('rejects a bad config when built', () => {
    expect(() => spliceGaps({ interval: '7x', fetchRange: () => of([]) })).toThrow(/interval/);
    expect(() => spliceGaps({ interval: '1m', fetchRange: undefined as never })).toThrow(TypeError);
  });
});
