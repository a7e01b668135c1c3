import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { untilFetched } from '../../../client/src/feed/until-fetched.ts';

describe('untilFetched', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('asks again after 2 s, then twice as long each time up to a minute, until it answers (reproduced: asked once, empty all day)', async () => {
    const asked: number[] = [];
    let fails = 7;
    const got: string[] = [];
    untilFetched(
      () => {
        asked.push(Date.now());
        return fails-- > 0 ? Promise.reject(new Error('503')) : Promise.resolve('markets');
      },
      (v) => got.push(v),
    );
    await vi.advanceTimersByTimeAsync(200_000);
    const gaps = asked.slice(1).map((t, i) => t - asked[i]!);
    expect(gaps).toEqual([2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect(got).toEqual(['markets']);
  });

  it('stops asking once stopped (the page left)', async () => {
    let asked = 0;
    const s = untilFetched(() => (asked++, Promise.reject(new Error('down'))), () => undefined);
    await vi.advanceTimersByTimeAsync(10);
    s.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(asked).toBe(1);
  });
});
