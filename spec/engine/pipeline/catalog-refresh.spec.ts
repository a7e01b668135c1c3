import { defer, of, Subject, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { catalogRefresh$ } from '../../../engine/src/pipeline/catalog-refresh.ts';
import { testScheduler } from '../../helpers/marbles.ts';

describe('catalogRefresh$', () => {
  it('refreshes every period and when asked (throttled), one load at a time', () => {
    testScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const asks = hot('  --x-x------x----------');
      const load = cold('---(r|)', { r: 'R' });
      const out = catalogRefresh$({ load: () => load, everyMs: 10, now$: asks, minGapMs: 3 });
      // ask at 2 → load 2..5; the ask at 4 is throttled; the tick at 10 → load 10..13 (the ask at 11
      // comes while it runs: dropped); tick at 20 → 20..23.
      expectObservable(out, '^---------------------!').toBe('-----R-------R-------', { R: 'R' });
      expectSubscriptions(load.subscriptions).toBe(['--^--!', '----------^--!', '--------------------^-!']);
    });
  });

  it('reports a failed load and goes on', () => {
    const errors: unknown[] = [];
    testScheduler().run(({ hot, expectObservable }) => {
      let n = 0;
      const load = () => defer(() => (++n === 1 ? throwError(() => new Error('down')) : of('ok')));
      const out = catalogRefresh$({ load, everyMs: 5, now$: hot('-'), onError: (e) => errors.push(e) });
      expectObservable(out, '^-----------!').toBe('----------o-', { o: 'ok' });
    });
    expect(errors).toHaveLength(1);
  });

  it('refuses a period that is not positive', () => {
    expect(() => catalogRefresh$({ load: () => of(1), everyMs: 0, now$: new Subject() })).toThrow(TypeError);
  });
});
