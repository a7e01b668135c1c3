import { map } from 'rxjs';
import { describe, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { upstreamStatus$ } from '../../../engine/src/pipeline/upstream-status.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { testScheduler } from '../../helpers/marbles.ts';

const b: Bar = { openTime: 0, open: 1, high: 1, low: 1, close: 1, volume: 0, closed: false };
const ev: Record<string, UpstreamEvent> = {
  c: { type: 'connected', shard: 0, streams: [], resync: false },
  C: { type: 'connected', shard: 1, streams: [], resync: false },
  k: { type: 'kline', symbol: 'BTCUSDT', interval: '1m', bar: b, receivedAt: 0, eventTime: 0 },
  d: { type: 'disconnected', shard: 0, reason: 'closed 1006' },
  x: { type: 'closed', shard: 1 },
};
const states = { L: 'live', S: 'stale', R: 'reconnecting' };

describe('upstreamStatus$', () => {
  it('is reconnecting until the first frame, live while frames come, stale after a silence, reconnecting while a shard is down (ticks every 3 frames, stale after 5)', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const events = hot('  -c--kk-------d--ck------|', ev);
      const expected = '    -R-RL-L--L--SR-RRLL--L--|';
      const out = upstreamStatus$(events, { staleAfterMs: 5, tickMs: 3 }).pipe(map((s) => s.state));
      expectObservable(out).toBe(expected, states);
      expectSubscriptions(events.subscriptions).toBe('^-----------------------!');
    });
  });

  it('a connection that replaced a silent one is never live while nothing comes: reconnecting, then stale (reproduced: live during a freeze)', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const events = hot('  -ck-----------d-c-----------|', ev);
      const expected = '    -RLL--L--S--S-RRR-R--R--S--S|';
      expectObservable(upstreamStatus$(events, { staleAfterMs: 5, tickMs: 3 }).pipe(map((s) => s.state))).toBe(expected, states);
    });
  });

  it('with another shard up, a shard down is said in `down` (for its own series), not as the whole state', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const events = hot('-cC-k-d-k-c-|', ev);
      const out = upstreamStatus$(events, { staleAfterMs: 100, tickMs: 1000 }).pipe(map((s) => `${s.state}[${s.down.join()}]`));
      expectObservable(out).toBe('-ab-c-d---e-|', { a: 'reconnecting[]', b: 'reconnecting[]', c: 'live[]', d: 'live[0]', e: 'live[]' });
    });
  });

  it('counts shards; a shard closed on purpose is neither up nor an outage', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const events = hot('-c-C-k-x-|', ev);
      const out = upstreamStatus$(events, { staleAfterMs: 100, tickMs: 1000 }).pipe(map((s) => `${s.state}${s.shards}`));
      expectObservable(out).toBe('-a-b-c-d-|', { a: 'reconnecting1', b: 'reconnecting2', c: 'live2', d: 'live1' });
    });
  });

  it('passes an error through and stops ticking on unsubscribe', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const events = hot('-c-k-#', ev);
      expectObservable(upstreamStatus$(events, { staleAfterMs: 100, tickMs: 2 }).pipe(map((s) => s.state))).toBe('-RRLL#', states);
      const quiet = hot('-c-------', ev);
      expectObservable(upstreamStatus$(quiet, { staleAfterMs: 100, tickMs: 2 }).pipe(map((s) => s.state)), '^---!').toBe('-RR-', states);
    });
  });
});
