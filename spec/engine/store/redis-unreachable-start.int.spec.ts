import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createRedisBarStore } from '../../../engine/src/store/redis-bar-store.ts';

/** A loopback port nothing listens on: connections are refused at once. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Redis down when the engine starts (README: "an unreachable Redis does not [stop the start]: memory
 * until it answers"). Before: every series' restore waited the whole connect timeout again (3 s each,
 * four at a time: 42 series took 35 s to bootstrap, SYMBOLS=* with 9,000 series would take hours, and
 * every cold symbol waited 3 s), and each wrote its own warning line.
 */
describe('a Redis store that is unreachable from the start', () => {
  it('waits for the first connection once; later restores start from the exchange at once, logged once', async () => {
    const logs: string[] = [];
    const store = createRedisBarStore({ url: `redis://127.0.0.1:${await deadPort()}/15`, bufferSize: 10, connectTimeoutMs: 300, log: (_l, m) => logs.push(m) });
    try {
      expect(await store.restore(seriesId('BTCUSDT', '1m'))).toBeUndefined();
      // The connect window is over: no restore waits for Redis any more (each resolves before a timer could fire).
      const ids = ['ETHUSDT', 'BNBUSDT', 'SOLUSDT', 'XRPUSDT', 'ADAUSDT'].flatMap((s) => ['1m', '5m', '1h'].map((i) => seriesId(s, i)));
      const raced = await Promise.race([Promise.all(ids.map((id) => store.restore(id))), new Promise((r) => setImmediate(() => r('waited')))]);
      expect(raced).toEqual(ids.map(() => undefined));
      expect(logs.filter((l) => /from the exchange alone/.test(l))).toHaveLength(1);
      expect(store.health()).toMatchObject({ kind: 'redis', reachable: false });
    } finally {
      await store.close();
    }
  });

  it("drops a released series' pending writes while Redis is away (each kept its 1,000 bars until it answered: memory grew with every cold series loaded through an outage)", async () => {
    const store = createRedisBarStore({ url: `redis://127.0.0.1:${await deadPort()}/15`, bufferSize: 1000, connectTimeoutMs: 50 });
    try {
      await store.restore(seriesId('BTCUSDT', '1m'));
      const bars = Array.from({ length: 1000 }, (_, i) => ({ openTime: 1_700_000_000_000 + i * 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, closed: true }));
      for (let s = 0; s < 50; s++) {
        const id = seriesId(`S${s}USDT`, '1m');
        store.upsert(id, bars);
        store.release(id);
      }
      // A series still held keeps its own (written when Redis answers again).
      store.upsert(seriesId('BTCUSDT', '1m'), bars);
      expect(store.health()).toMatchObject({ reachable: false, pendingWrites: 1000 });
    } finally {
      await store.close();
    }
  });
});
