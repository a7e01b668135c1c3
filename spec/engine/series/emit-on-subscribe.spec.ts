import { map, pipe, startWith, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { defineSeries } from '../../../engine/src/series/define-series.ts';
import { SeriesRegistry } from '../../../engine/src/series/series-registry.ts';

const M = 60_000;
const bars: Bar[] = Array.from({ length: 100 }, (_, i) => ({ openTime: (1000 + i) * M, open: 1, high: 2, low: 0.5, close: 1 + (i % 7), volume: 1, closed: true }));

/**
 * A module whose operator emits as it is subscribed (startWith, a replaying subject): the engine read
 * the run it was starting before it existed, RxJS rethrew that later out of any try, and the process
 * exited: every symbol and client down (a review). Now the early point is the warming run's (not
 * shown) and the series works; nothing reaches RxJS's unhandled path (vitest fails a run that has one).
 */
describe('a derived series whose operator emits as it is subscribed', () => {
  it('is served, and nothing escapes to the process', async () => {
    const seeded = defineSeries({
      name: 'seeded',
      pane: 'oscillator',
      params: {},
      warmup: 10,
      operator: () => pipe(map((b: Bar) => ({ time: b.openTime, value: b.close, closed: b.closed })), startWith({ time: 0, value: 0, closed: true })),
    });
    const errors: string[] = [];
    const reg = new SeriesRegistry([seeded], { bufferSize: 1000, log: silentLogger, history: () => bars, bars$: () => new Subject<Bar>(), publish: () => {}, onError: (n) => void errors.push(n) });
    try {
      const parsed = reg.parse('seeded', '1m');
      if (!parsed.ok) throw new Error(parsed.error);
      const points = await reg.range(parsed.value[0]!, seriesId('BTCUSDT', '1m'), undefined, 50);
      expect(points.length).toBe(50);
      expect(points.every((p) => p.time >= bars[0]!.openTime)).toBe(true);
      const lease = reg.acquire(parsed.value[0]!, seriesId('BTCUSDT', '1m'));
      await lease.ready;
      expect(lease.instance.state).toBe('live');
      lease.release();
      await new Promise((r) => setTimeout(r, 50));
      expect(errors).toEqual([]);
    } finally {
      reg.stop();
    }
  });
});
