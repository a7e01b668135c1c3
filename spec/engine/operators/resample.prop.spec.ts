import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { bucketOpen, nextOpen, parseTimeZone, resample } from '../../../engine/src/operators/index.ts';
import { MINUTE, runSync, T0 } from '../../helpers/marbles.ts';
import { arbOhlcv, toBar } from './bar-arbitraries.ts';

/** How the next 1m bar's open time follows the previous one. */
type Move = { kind: 'next' } | { kind: 'skip'; minutes: number } | { kind: 'bucketEnd' };

const arbMove: fc.Arbitrary<Move> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Move>({ kind: 'next' }) },
  { weight: 2, arbitrary: fc.integer({ min: 2, max: 90 }).map<Move>((minutes) => ({ kind: 'skip', minutes })) },
  { weight: 1, arbitrary: fc.integer({ min: 91, max: 60 * 24 * 12 }).map<Move>((minutes) => ({ kind: 'skip', minutes })) },
  // lands on the last minute of the current target bucket, so buckets also close by their last input
  { weight: 2, arbitrary: fc.constant<Move>({ kind: 'bucketEnd' }) },
);

const arbInput = fc.record({
  start: fc.integer({ min: 0, max: 60 * 24 * 400 }),
  steps: fc.array(
    fc.record({ move: arbMove, formings: fc.array(arbOhlcv, { maxLength: 2 }), final: arbOhlcv, closes: fc.boolean() }),
    { minLength: 1, maxLength: 150 },
  ),
});

/** The naive batch: the last update of each input, grouped by bucket, folded in order. */
function naive(finals: Bar[], interval: string, tz: number): Bar[] {
  const buckets = new Map<number, Bar[]>();
  for (const b of finals) {
    const key = bucketOpen(b.openTime, interval, tz);
    buckets.set(key, [...(buckets.get(key) ?? []), b]);
  }
  const keys = [...buckets.keys()];
  return keys.map((openTime, n) => {
    const bars = buckets.get(openTime)!;
    const last = bars[bars.length - 1];
    const isLast = n === keys.length - 1;
    return {
      openTime,
      open: bars[0].open,
      high: Math.max(...bars.map((b) => b.high)),
      low: Math.min(...bars.map((b) => b.low)),
      close: last.close,
      volume: bars.slice(1).reduce((v, b) => v + b.volume, bars[0].volume),
      closed: !isLast || (last.closed && last.openTime + MINUTE === nextOpen(openTime, interval, tz)),
    };
  });
}

const INTERVALS = ['3m', '5m', '15m', '1h', '4h', '1d', '1w', '1M'];
const cases = INTERVALS.flatMap((interval) => [
  { interval, timeZone: undefined as string | undefined },
  ...(/[dwM]$/.test(interval) ? [{ interval, timeZone: '+08:00' }] : []),
]);

describe.each(cases)('resample 1m → $interval (timeZone $timeZone), property', ({ interval, timeZone }) => {
  const tz = parseTimeZone(timeZone);

  test.prop([arbInput], { numRuns: 100 })('equals the naive batch aggregation, closing each bucket exactly once', ({ start, steps }) => {
    const stream: Bar[] = [];
    const finals: Bar[] = [];
    let t = T0 + start * MINUTE;
    steps.forEach(({ move, formings, final, closes }, n) => {
      if (n > 0) {
        const end = nextOpen(bucketOpen(t, interval, tz), interval, tz) - MINUTE;
        if (move.kind === 'next') t += MINUTE;
        else if (move.kind === 'skip') t += move.minutes * MINUTE;
        else t = end > t ? end : t + MINUTE;
      }
      stream.push(...formings.map((f) => toBar(t, f, false)));
      // Mostly closed; sometimes a bar's close never arrives before the next one opens.
      const last = toBar(t, final, closes || n % 3 !== 0);
      stream.push(last);
      finals.push(last);
    });

    const out = runSync(stream, resample(interval, { sourceInterval: '1m', timeZone }));
    // One output per input update, plus one closing emission for each bucket whose last input never
    // closed it (closed by the next bucket's first input instead); in non-decreasing open time…
    const expected = naive(finals, interval, tz);
    const closedByOwnInput = (b: Bar) => finals.some((f) => f.closed && f.openTime + MINUTE === nextOpen(b.openTime, interval, tz));
    const lateCloses = expected.slice(0, -1).filter((b) => !closedByOwnInput(b)).length;
    expect(out.length).toBe(stream.length + lateCloses);
    out.forEach((b, i) => i > 0 && expect(b.openTime).toBeGreaterThanOrEqual(out[i - 1].openTime));
    // …each bucket closed at most once, and nothing after its close.
    const byBucket = new Map<number, Bar[]>();
    for (const b of out) byBucket.set(b.openTime, [...(byBucket.get(b.openTime) ?? []), b]);
    for (const updates of byBucket.values()) {
      const closedAt = updates.findIndex((b) => b.closed);
      expect(closedAt === -1 || closedAt === updates.length - 1).toBe(true);
    }
    // The final state of every bucket is the naive aggregate of its inputs' final updates.
    expect([...byBucket.values()].map((u) => u[u.length - 1])).toEqual(expected);
  });
});
