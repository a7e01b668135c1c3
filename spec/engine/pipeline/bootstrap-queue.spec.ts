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

  it('takes the waited-for series in turns by the address that asked: many from one address hold another\'s one back by one load', () => {
    const t = setup(1);
    t.q.push(id('BUSYUSDT'));
    // One address (an attacker within its own ration) asks for five, then a trader for one.
    for (const s of ['A1USDT', 'A2USDT', 'A3USDT', 'A4USDT', 'A5USDT']) t.q.push(id(s), true, '203.0.113.7');
    t.q.push(id('TRADERUSDT'), true, '198.51.100.9');
    // Asked again by the trader: it keeps its place (first asker's turn).
    t.q.push(id('A3USDT'), true, '198.51.100.9');
    t.q.push(id('B1USDT'), true, '192.0.2.1');
    for (let i = 0; i < 7; i++) t.finish(t.started.at(-1)!);
    // Reproduced: first come first served put TRADERUSDT behind all five.
    expect(t.started).toEqual(['BUSYUSDT:1m', 'A1USDT:1m', 'TRADERUSDT:1m', 'B1USDT:1m', 'A2USDT:1m', 'A3USDT:1m', 'A4USDT:1m', 'A5USDT:1m']);
    // A cancelled one is skipped in its asker's turn; the backlog follows the urgent ones.
    for (const s of ['C1USDT', 'C2USDT']) t.q.push(id(s), true, '203.0.113.7');
    t.q.push(id('NORMALUSDT'));
    t.q.cancel('C1USDT:1m');
    t.finish(t.started.at(-1)!);
    t.finish(t.started.at(-1)!);
    expect(t.started.slice(-2)).toEqual(['C2USDT:1m', 'NORMALUSDT:1m']);
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
