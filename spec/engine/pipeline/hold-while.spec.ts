import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergeMap, of, Subject, take, toArray, firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { holdWhile } from '../../../engine/src/pipeline/hold-while.ts';
import { testScheduler } from '../../helpers/marbles.ts';

const always = () => true;
const never = () => false;

describe('holdWhile (marbles)', () => {
  it('passes values through at once while nothing is held', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      expectObservable(hot('-a-b-c-|').pipe(holdWhile({ hold: never, delayMs: 3, maxHeld: 10 }))).toBe('-a-b-c-|');
    });
  });

  it('holds each value delayMs while hold() says so, in order; completion comes after what was held', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      expectObservable(hot('a-b-----c|').pipe(holdWhile({ hold: always, delayMs: 3, maxHeld: 10 }))).toBe('---a-b---(c|)');
    });
  });

  it('lets every held value go before the first value that is not held', () => {
    const ts = testScheduler();
    ts.run(({ hot, expectObservable }) => {
      const src = hot('a-b---|');
      // hold() turns false at frame 1 (the node took the lead): b lets a go first, at b's frame.
      expectObservable(src.pipe(holdWhile({ hold: () => ts.now() < 1, delayMs: 5, maxHeld: 10 }))).toBe('--(ab)|');
    });
  });

  it('lets all held values go at once past maxHeld (memory stays bounded)', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      expectObservable(hot('abc-----|').pipe(holdWhile({ hold: always, delayMs: 5, maxHeld: 2 }))).toBe('--(ab)-c|');
    });
  });

  it('passes an error on after what was held', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      expectObservable(hot('a-#').pipe(holdWhile({ hold: always, delayMs: 5, maxHeld: 10 }))).toBe('--(a#)');
    });
  });

  it('unsubscribes from the source and drops its timer on early unsubscribe', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot('a-b-c-d-|');
      expectObservable(src.pipe(holdWhile({ hold: always, delayMs: 2, maxHeld: 10 })), '^--!').toBe('--a');
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });

  it('works inside a mergeMap(x => of(x)) chain', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const src = hot('a-b-|');
      expectObservable(
        src.pipe(
          mergeMap((x) => of(x)),
          holdWhile({ hold: always, delayMs: 1, maxHeld: 10 }),
          mergeMap((x) => of(x)),
        ),
      ).toBe('-a-b|');
    });
  });

  it('stops a synchronous source once take() has what it wants, held or not', async () => {
    let emitted = 0;
    const src = new Subject<number>();
    const got = firstValueFrom(src.pipe(holdWhile({ hold: never, delayMs: 0, maxHeld: 10 }), take(2), toArray()));
    for (let i = 0; i < 5 && !src.closed && src.observed; i++) {
      emitted++;
      src.next(i);
    }
    expect(await got).toEqual([0, 1]);
    expect(emitted).toBe(2);
    const held = await firstValueFrom(of(1, 2, 3).pipe(holdWhile({ hold: always, delayMs: 0, maxHeld: 10 }), take(1), toArray()));
    expect(held).toEqual([1]);
  });

  it('refuses a negative delay or a maxHeld below 1', () => {
    expect(() => holdWhile({ hold: always, delayMs: -1, maxHeld: 1 })).toThrow(TypeError);
    expect(() => holdWhile({ hold: always, delayMs: 1, maxHeld: 0 })).toThrow(/maxHeld/);
  });
});

describe('holdWhile (properties)', () => {
  it('loses, repeats and reorders nothing; a held value waits at most delayMs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.nat(6), held: fc.boolean() }), { maxLength: 40 }),
        fc.nat(5),
        fc.integer({ min: 1, max: 8 }),
        (steps, delayMs, maxHeld) => {
          const ts = new TestScheduler(() => undefined);
          ts.run(() => {
            const src = new Subject<number>();
            const out: Array<{ v: number; at: number }> = [];
            const comeAt: number[] = [];
            let holding = false;
            const sub = src.pipe(holdWhile({ hold: () => holding, delayMs, maxHeld })).subscribe((v) => out.push({ v, at: ts.now() }));
            let t = 0;
            steps.forEach(({ gap, held }, i) => {
              t += gap;
              ts.schedule(() => {
                holding = held;
                comeAt[i] = ts.now();
                src.next(i);
              }, t);
            });
            ts.schedule(() => src.complete(), t + 1);
            ts.flush();
            sub.unsubscribe();
            expect(out.map((o) => o.v)).toEqual(steps.map((_, i) => i));
            for (const { v, at } of out) {
              expect(at).toBeGreaterThanOrEqual(comeAt[v]!);
              expect(at).toBeLessThanOrEqual(comeAt[v]! + delayMs);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
