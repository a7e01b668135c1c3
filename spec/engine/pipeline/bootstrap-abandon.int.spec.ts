import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { loadSeries$ } from '../../../engine/src/pipeline/bootstrap.ts';
import { createMemoryBarStore } from '../../../engine/src/store/memory-bar-store.ts';
import { useSimRest } from '../../helpers/sim-rest.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * A cold series whose client left (or that was evicted to make room) while its REST load was in
 * flight. Reproduced: the load went on and wrote its bars into the store after the series was freed,
 * a window of BUFFER_SIZE bars kept for nobody, one per abandoned load (a flood of cold asks grows it).
 */
describe('an abandoned bootstrap load, against the simulated exchange', () => {
  const ex = useSimRest(['BTCUSDT', 'ETHUSDT']);

  it('writes nothing once unsubscribed with its REST call on the wire, and says it ended', async () => {
    const store = createMemoryBarStore({ bufferSize: 500 });
    const id = seriesId('ETHUSDT', '1m');
    const abandoned: string[] = [];
    const before = ex.sim.stats.restRequests;
    const sub = loadSeries$(id, { rest: ex.rest, store, bufferSize: 500, log: silentLogger, abandoned: (x) => abandoned.push(x.key) }).subscribe();
    // The exchange has the request: the answer is on its way when the load is dropped.
    while (ex.sim.stats.restRequests === before) await turn();
    sub.unsubscribe();
    const end = Date.now() + 10_000;
    while (!abandoned.length && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(abandoned).toEqual([id.key]);
    expect(store.stats().series).toBe(0);
  });

  it('still loads and stores a series nobody drops', async () => {
    const store = createMemoryBarStore({ bufferSize: 500 });
    const id = seriesId('BTCUSDT', '1m');
    const abandoned: string[] = [];
    const results: unknown[] = [];
    await new Promise<void>((done, fail) => loadSeries$(id, { rest: ex.rest, store, bufferSize: 500, log: silentLogger, abandoned: (x) => abandoned.push(x.key) }).subscribe({ next: (r) => results.push(r), error: fail, complete: done }));
    expect(results).toEqual([{ id, outcome: 'loaded', fetched: 500 }]);
    expect(store.window(id).size).toBe(500);
    expect(abandoned).toEqual([]);
  });
});
