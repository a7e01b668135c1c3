import { Observable, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { BootstrapResult } from '../../../engine/src/pipeline/bootstrap.ts';
import { BootstrapQueue } from '../../../engine/src/pipeline/bootstrap-queue.ts';

function setup(concurrency: number) {
  const started: string[] = [];
  const running = new Map<string, Subject<BootstrapResult>>();
  const unsubscribed: string[] = [];
  const done: string[] = [];
  const q = new BootstrapQueue(
    (id) => {
      started.push(id.key);
      const s = new Subject<BootstrapResult>();
      running.set(id.key, s);
      // Records an unsubscribe that aborts a load still running (not one that finished).
      return new Observable<BootstrapResult>((sub) => {
        let finished = false;
        const inner = s.subscribe({
          next: (r) => sub.next(r),
          complete: () => {
            finished = true;
            sub.complete();
          },
        });
        return () => {
          if (!finished) unsubscribed.push(id.key);
          inner.unsubscribe();
        };
      });
    },
    concurrency,
    (r) => done.push(r.id.key),
    () => {},
  );
  const finish = (key: string) => {
    const [symbol, interval] = key.split(':');
    const s = running.get(key)!;
    s.next({ id: seriesId(symbol!, interval!), outcome: 'loaded', fetched: 1 });
    s.complete();
  };
  return { q, started, unsubscribed, done, finish };
}

const id = (s: string) => seriesId(s, '1m');

describe('BootstrapQueue', () => {
  it('runs at most `concurrency` loads, first come first served, each series once', () => {
    const t = setup(2);
    for (const s of ['AAUSDT', 'BBUSDT', 'CCUSDT', 'AAUSDT', 'DDUSDT']) t.q.push(id(s));
    expect(t.started).toEqual(['AAUSDT:1m', 'BBUSDT:1m']);
    expect(t.q.pending).toBe(2);
    t.finish('AAUSDT:1m');
    expect(t.started).toEqual(['AAUSDT:1m', 'BBUSDT:1m', 'CCUSDT:1m']);
    t.q.push(id('AAUSDT')); // loaded already: queued again only if asked again after it finished
    expect(t.done).toEqual(['AAUSDT:1m']);
  });

  it('puts a series someone waits for ahead of the backlog', () => {
    const t = setup(1);
    for (const s of ['AAUSDT', 'BBUSDT', 'CCUSDT', 'DDUSDT']) t.q.push(id(s));
    t.q.push(id('DDUSDT'), true);
    t.finish('AAUSDT:1m');
    expect(t.started).toEqual(['AAUSDT:1m', 'DDUSDT:1m']);
    t.finish('DDUSDT:1m');
    t.finish('BBUSDT:1m');
    expect(t.started).toEqual(['AAUSDT:1m', 'DDUSDT:1m', 'BBUSDT:1m', 'CCUSDT:1m']);
  });

  it('cancels a queued series and aborts a running load; stop aborts everything', () => {
    const t = setup(1);
    for (const s of ['AAUSDT', 'BBUSDT', 'CCUSDT']) t.q.push(id(s));
    t.q.cancel('BBUSDT:1m');
    t.q.cancel('AAUSDT:1m');
    expect(t.unsubscribed).toEqual(['AAUSDT:1m']);
    expect(t.started).toEqual(['AAUSDT:1m', 'CCUSDT:1m']);
    t.q.stop();
    expect(t.unsubscribed).toEqual(['AAUSDT:1m', 'CCUSDT:1m']);
    t.q.push(id('DDUSDT'));
    expect(t.started).toHaveLength(2);
  });
});
