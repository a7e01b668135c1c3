import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { repairBursts } from '../../../engine/src/pipeline/repair-bursts.ts';

const bar = (t: number): Bar => ({ openTime: t, open: 1, high: 1, low: 1, close: 1, volume: 1, closed: true });
const turn = () => new Promise((r) => setTimeout(r, 5));

describe('repairBursts', () => {
  it('emits the oldest open time of each burst once it has ended, and releases its timer and source when unsubscribed', async () => {
    const repairs = new Subject<Bar>();
    const got: number[] = [];
    const sub = repairs.pipe(repairBursts()).subscribe((t) => got.push(t));
    for (const t of [30, 10, 20]) repairs.next(bar(t));
    expect(got).toEqual([]);
    await turn();
    expect(got).toEqual([10]);
    repairs.next(bar(40));
    await turn();
    expect(got).toEqual([10, 40]);
    repairs.next(bar(50));
    sub.unsubscribe();
    expect(repairs.observed).toBe(false);
    await turn();
    expect(got).toEqual([10, 40]);
  });
});
