import { Redis, type RedisOptions } from 'ioredis';
import type { EdgeDemand } from '../../engine/src/cluster/edge-demand.ts';
import { REDIS_URL } from './services.ts';

/**
 * A suite's connections to the test database (each `redis()` its own) and the edge demands it
 * starts: `close` stops the demands, deletes the suite's keys (under `prefix`) and closes them all.
 */
export function suiteConnections(prefix: string) {
  const conns: Redis[] = [];
  const demands: EdgeDemand[] = [];
  const redis = (o: RedisOptions = {}) => {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, ...o });
    conns.push(r);
    return r;
  };
  const close = async () => {
    for (const d of demands) d.stop();
    const r = conns[0] ?? redis();
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    for (const c of conns) c.disconnect();
  };
  return { conns, demands, redis, close };
}
