/**
 * Redis's cost of a window written into a log it still keeps (an on-demand series asked again within
 * its keep: the leader bootstraps its window from REST and writes it), for two checkouts side by side
 * on one private redis-server. Per round and checkout: `series` logs of `bars` bars are seeded, then
 * their windows written again with the newest bar grown and one new bar (what a minute later looks
 * like). Reported per re-written window: Redis CPU (used_cpu_user+sys), the scripts' own time
 * (commandstats evalsha usec), then the medians and the ratio b/a. Both checkouts must end with the
 * same bars and positions.
 *
 *   npx tsx bench/micro/reseed-cost.ts /path/to/checkout-a [/path/to/checkout-b (default .)] [series] [bars] [rounds]
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Bar } from '../../engine/src/domain/bar.ts';
import type { SeriesId } from '../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';

const roots = [resolve(process.argv[2] ?? '.'), resolve(process.argv[3] ?? '.')];
const SERIES = Number(process.argv[4] ?? 50);
const BARS = Number(process.argv[5] ?? 1000);
const ROUNDS = Number(process.argv[6] ?? 5);
const LEASE = 'bench:lease';

interface Writer {
  writeWindow(token: string, id: SeriesId, bars: readonly Bar[]): Promise<{ kind: string }>;
}

const bar = (minute: number, volume: number, closed: boolean): Bar => ({ openTime: minute * 60_000, open: 10, high: 12, low: 9, close: 11, volume, closed });
const windowOf = (from: number, n: number): Bar[] => Array.from({ length: n }, (_, k) => bar(from + k, 1 + (k % 7), k < n - 1));

async function redisCpu(redis: Redis): Promise<{ cpu: number; script: number }> {
  const info = (await redis.info('cpu')) + (await redis.info('commandstats'));
  const num = (re: RegExp) => Number(re.exec(info)?.[1] ?? 0);
  return { cpu: num(/used_cpu_user:([\d.]+)/) + num(/used_cpu_sys:([\d.]+)/), script: num(/cmdstat_evalsha:calls=\d+,usec=(\d+)/) / 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const server = await RedisProcess.start();
  const redis = new Redis(server.url);
  const sides = await Promise.all(
    roots.map(async (root, side) => {
      const { FencedWriter } = (await import(`${root}/engine/src/cluster/fenced-writer.ts`)) as { FencedWriter: new (cfg: object) => Writer };
      const { seriesId } = (await import(`${root}/engine/src/domain/series-id.ts`)) as { seriesId(s: string, i: string): SeriesId };
      const prefix = `b${side}:`;
      const writer = new FencedWriter({ redis: new Redis(server.url), keyPrefix: prefix, leaseKey: LEASE, bufferSize: BARS, historyUpdates: 1000 });
      const ids = Array.from({ length: SERIES }, (_, s) => seriesId(`S${s}USDT`, '1m'));
      return { root, prefix, writer, ids, cpu: [] as number[], script: [] as number[] };
    }),
  );
  await redis.set(LEASE, 'tok');
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of sides) {
      for (const id of side.ids) await redis.del(`${side.prefix}candles:${id.key}`, `${side.prefix}pos:${id.key}`, `${side.prefix}hist:${id.key}`);
      const first = windowOf(round * 10, BARS);
      for (const id of side.ids) await side.writer.writeWindow('tok', id, first);
      // A minute later: the forming bar grew and closed, a new one forms.
      const again = [...first.slice(1, -1), { ...first.at(-1)!, volume: 50, closed: true }, bar(round * 10 + BARS, 1, false)];
      await redis.config('RESETSTAT');
      const before = await redisCpu(redis);
      for (const id of side.ids) await side.writer.writeWindow('tok', id, again);
      const after = await redisCpu(redis);
      side.cpu.push(((after.cpu - before.cpu) / SERIES) * 1e6);
      side.script.push((after.script / SERIES) * 1e6);
    }
  }
  const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
  for (const s of sides) console.log(`${s.root}: Redis CPU per re-written window ${median(s.cpu).toFixed(0)} µs (rounds ${s.cpu.map((x) => x.toFixed(0)).join(', ')}), in scripts ${median(s.script).toFixed(0)} µs`);
  console.log(`ratio b/a: Redis CPU ${(median(b.cpu) / median(a.cpu)).toFixed(3)}, scripts ${(median(b.script) / median(a.script)).toFixed(3)} (${SERIES} windows of ${BARS} bars a round, ${ROUNDS} rounds)`);
  for (const id of a.ids) {
    const [x, y] = await Promise.all([redis.zrange(`${a.prefix}candles:${id.key}`, 0, -1), redis.zrange(`${b.prefix}candles:${id.key}`, 0, -1)]);
    const [p, q] = await Promise.all([redis.hmget(`${a.prefix}pos:${id.key}`, 'offset', 'nt'), redis.hmget(`${b.prefix}pos:${id.key}`, 'offset', 'nt')]);
    if (JSON.stringify([x, p]) !== JSON.stringify([y, q])) throw new Error(`the checkouts' log of ${id.key} differs`);
  }
  redis.disconnect();
  await server.stop();
  process.exit(0);
}

await main();
