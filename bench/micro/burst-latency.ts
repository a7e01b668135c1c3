/**
 * The leader's write path at Binance's pace, for two checkouts side by side on one private
 * redis-server: every `everyMs` a burst of one update for each of 20 series (an exchange's tick),
 * handed to the checkout's FencedWriter in `chunks` turns (a tick's frames are read in a few chunks),
 * and a subscriber in another process (an edge's place) stamping each published update on arrival.
 * Per checkout: from an update's write to its arrival, p50 and p99; from a burst's start to its last
 * update's arrival, p50 and p99; script calls per burst. Blocks of `block` bursts alternate between the
 * checkouts (the machine drifts). Times are CLOCK_MONOTONIC (process.hrtime), the same in both processes.
 *
 *   npx tsx bench/micro/burst-latency.ts /path/to/checkout-a [/path/to/checkout-b (default .)] [bursts per checkout] [chunks] [everyMs] [block]
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Bar } from '../../engine/src/domain/bar.ts';
import type { SeriesId } from '../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';

const roots = [resolve(process.argv[2] ?? '.'), resolve(process.argv[3] ?? '.')];
const bursts = Number(process.argv[4] ?? 200);
const chunks = Number(process.argv[5] ?? 3);
const everyMs = Number(process.argv[6] ?? 100);
const block = Number(process.argv[7] ?? 20);
const SERIES = 20;
const LEASE = 'bench:lease';
const TOKEN = 'tok';

interface Writer {
  write(token: string, id: SeriesId, bar: Bar): Promise<{ kind: string }>;
  close(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const turn = () => new Promise(setImmediate);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
};
const ms = (us: number) => (us / 1000).toFixed(3);

const server = await RedisProcess.start();
const redis = new Redis(server.url);
// The subscriber: another process, as an edge is; one line per message, `<µs> <channel> <message>`.
const sub = spawn(process.execPath, ['-e', `
const { Redis } = require(${JSON.stringify(createRequire(import.meta.url).resolve('ioredis'))});
const r = new Redis(${JSON.stringify(server.url)});
r.psubscribe('*:ch:*').then(() => process.stdout.write('ready\\n'));
r.on('pmessage', (_p, c, m) => process.stdout.write(String(process.hrtime.bigint() / 1000n) + ' ' + c + ' ' + m.split(' ', 2).join(' ') + '\\n'));
`], { stdio: ['ignore', 'pipe', 'inherit'] });
const arrivals = new Map<string, number>();
let ready!: () => void;
const subscribed = new Promise<void>((r) => (ready = r));
createInterface({ input: sub.stdout! }).on('line', (line) => {
  if (line === 'ready') return ready();
  const [at, channel, , offset] = line.split(' ');
  arrivals.set(`${channel} ${offset}`, Number(at));
});
await subscribed;

const checkouts = await Promise.all(
  roots.map(async (root, k) => {
    const { FencedWriter } = (await import(`${root}/engine/src/cluster/fenced-writer.ts`)) as { FencedWriter: new (cfg: object) => Writer };
    const { seriesId } = (await import(`${root}/engine/src/domain/series-id.ts`)) as { seriesId(s: string, i: string): SeriesId };
    const prefix = `c${k}:`;
    const conn = new Redis(server.url);
    const writer = new FencedWriter({ redis: conn, keyPrefix: prefix, leaseKey: LEASE, bufferSize: 1000, historyUpdates: 1000 });
    const ids = Array.from({ length: SERIES }, (_, i) => seriesId(`S${i}USDT`, '1m'));
    return { root, prefix, writer, conn, ids, offsets: new Array<number>(SERIES).fill(0), perUpdate: [] as number[], perBurst: [] as number[], calls: 0, bursts: 0 };
  }),
);
await redis.set(LEASE, TOKEN);

const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);
let volume = 0;
/** One burst through checkout `c`: its updates' write times by `channel offset`. */
async function burst(c: (typeof checkouts)[number]): Promise<{ start: number; sent: Map<string, number> }> {
  const sent = new Map<string, number>();
  const start = nowUs();
  volume++;
  const per = Math.ceil(SERIES / chunks);
  const done: Array<Promise<unknown>> = [];
  for (let i = 0; i < SERIES; i++) {
    if (i > 0 && i % per === 0) await turn();
    const bar: Bar = { openTime: t0, open: 1, high: 2, low: 1, close: 1.5, volume, closed: false };
    sent.set(`${c.prefix}ch:${c.ids[i]!.key} ${++c.offsets[i]!}`, nowUs());
    done.push(c.writer.write(TOKEN, c.ids[i]!, bar));
  }
  await Promise.all(done);
  return { start, sent };
}

const before = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
for (let b = 0; b < bursts * 2; b += block) {
  for (const c of checkouts) {
    for (let i = 0; i < block / 2 && c.bursts < bursts; i++, c.bursts++) {
      const calls = await before();
      const { start, sent } = await burst(c);
      c.calls += (await before()) - calls;
      await sleep(everyMs);
      let last = 0;
      for (const [key, at] of sent) {
        const arrived = arrivals.get(key);
        if (arrived === undefined) throw new Error(`${key} was not heard within ${everyMs} ms`);
        arrivals.delete(key);
        c.perUpdate.push(arrived - at);
        last = Math.max(last, arrived);
      }
      c.perBurst.push(last - start);
    }
  }
}

for (const c of checkouts) {
  console.log(`${c.root}: ${c.perUpdate.length} updates in ${c.perBurst.length} bursts of ${SERIES} in ${chunks} turns, every ${everyMs} ms; write → arrival p50 ${ms(q(c.perUpdate, 0.5))} p99 ${ms(q(c.perUpdate, 0.99))} ms; burst start → last arrival p50 ${ms(q(c.perBurst, 0.5))} p99 ${ms(q(c.perBurst, 0.99))} ms; ${(c.calls / c.perBurst.length).toFixed(2)} script calls per burst`);
}
const [a, b] = checkouts as [(typeof checkouts)[number], (typeof checkouts)[number]];
console.log(`b/a: write → arrival p50 ${(q(b.perUpdate, 0.5) / q(a.perUpdate, 0.5)).toFixed(3)} p99 ${(q(b.perUpdate, 0.99) / q(a.perUpdate, 0.99)).toFixed(3)}; burst p50 ${(q(b.perBurst, 0.5) / q(a.perBurst, 0.5)).toFixed(3)} p99 ${(q(b.perBurst, 0.99) / q(a.perBurst, 0.99)).toFixed(3)}`);
for (const c of checkouts) {
  c.writer.close();
  c.conn.disconnect();
}
sub.kill();
redis.disconnect();
await server.stop();
process.exit(0);
