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

  it('with refreshMs, asks again that long (± a quarter) after each answer, a failed refresh retried as before (reproduced: a listing after page load never reached the picker)', async () => {
    const asked: number[] = [];
    const answers = ['50 markets', 'fail', '120 markets'];
    const got: string[] = [];
    const s = untilFetched(
      () => {
        asked.push(Date.now());
        const a = answers.shift() ?? 'same';
        return a === 'fail' ? Promise.reject(new Error('503')) : Promise.resolve(a);
      },
      (v) => got.push(v),
      { refreshMs: 600_000 },
    );
    await vi.advanceTimersByTimeAsync(600_000 * 1.25 + 2000);
    expect(got).toEqual(['50 markets', '120 markets']);
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(450_000);
    expect(asked[1]! - asked[0]!).toBeLessThanOrEqual(750_000);
    expect(asked[2]! - asked[1]!).toBe(2000);
    s.stop();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(asked).toHaveLength(3);
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
