/**
 * CPU per bar update on the cluster's write path (the leader's FencedWriter and its Lua script), for
 * two checkouts side by side on one private redis-server: 20 series of 1,000 bars each (written
 * first, through each checkout's own writer), then rounds of `updates` updates in turns of `perTurn`
 * (default 20: one update per series per turn; each answered before the next): mostly the newest bar growing, a new bar every
 * 60 updates of a series (its predecessor closed the turn before), 1% corrections of a bar 5 minutes
 * back, 1% duplicates. Both checkouts get the same sequence, alternately, first one then the other.
 * Every channel has one subscriber (redis-cli, an edge). Per round and checkout: Redis CPU
 * (used_cpu_user+sys), the scripts' own time (commandstats evalsha usec) and the writer process's
 * CPU, each per update; then the medians and the ratios b/a. At the end both checkouts' sorted sets,
 * offsets and histories must be the same.
 *
 *   flock /work/wt/bench.lock npx tsx bench/micro/fenced-write.ts /path/to/checkout-a [/path/to/checkout-b (default .)] [updates] [rounds] [perTurn] [rate]
 * With a rate (updates/s), each update comes in a turn of its own at that pace (a leader getting
 * frames one by one), and updates/call shows how the writer batches them.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Bar } from '../../engine/src/domain/bar.ts';
import type { SeriesId } from '../../engine/src/domain/series-id.ts';
import { RedisProcess } from '../../spec/helpers/redis-process.ts';
import { mulberry32 } from '../lib/rng.ts';

const roots = [resolve(process.argv[2] ?? '.'), resolve(process.argv[3] ?? '.')];
const updates = Number(process.argv[4] ?? 20_000);
const rounds = Number(process.argv[5] ?? 5);
/** Updates per turn (one script call each): 20 is one of every series, 1 is a leader that gets frames one at a time. */
const perTurn = Number(process.argv[6] ?? 20);
/** Updates/s, each in a turn of its own (perTurn ignored), as a busy leader gets frames; 0: as fast as answered, in turns of perTurn. */
const rate = Number(process.argv[7] ?? 0);
const SERIES = 20;
const PRELOAD = 1000;
const LEASE = 'bench:lease';
const TOKEN = 'tok';

interface Writer {
  write(token: string, id: SeriesId, bar: Bar): Promise<{ kind: string }>;
}

interface Reader {
  snapshot(id: SeriesId, n: number): Promise<{ offset: number; bars: Bar[]; history: Array<{ offset: number; bar: Bar }> }>;
}


/** One checkout's series and where each one stands (its newest bar, its update count). */
class Feed {
  private readonly newest: Bar[] = [];
  private readonly last: Bar[] = [];
  private readonly count: number[] = [];
  private readonly random = mulberry32(7);
  private cursor = 0;

  constructor(
    readonly ids: SeriesId[],
    private readonly writer: Writer,
  ) {}

  async preload(): Promise<void> {
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);
    for (let b = 0; b < PRELOAD; b++) {
      const turn = this.ids.map((id, s) => {
        const bar: Bar = { openTime: t0 + b * 60_000, open: 100 + s, high: 101 + s, low: 99 + s, close: 100.5 + s, volume: 10 + b, closed: b < PRELOAD - 1 };
        this.newest[s] = this.last[s] = bar;
        this.count[s] = 0;
        return this.writer.write(TOKEN, id, bar);
      });
      await Promise.all(turn);
    }
  }

  /** The next update of series s. */
  private next(s: number): Bar {
    const k = ++this.count[s]!;
    const n = this.newest[s]!;
    const x = this.random();
    let bar: Bar;
    if (k % 60 === 59) bar = { ...n, closed: true };
    else if (k % 60 === 0) bar = { openTime: n.openTime + 60_000, open: n.close, high: n.close, low: n.close, close: n.close, volume: 0.5, closed: false };
    else if (x < 0.01) return { ...n, openTime: n.openTime - 5 * 60_000, volume: n.volume + 1000 + k, closed: true }; // a correction further back
    else if (x < 0.02) return this.last[s]!; // a duplicate
    else {
      const close = Math.round((n.close + (this.random() - 0.5)) * 100) / 100;
      bar = { ...n, close, high: Math.max(n.high, close), low: Math.min(n.low, close), volume: Math.round((n.volume + this.random() * 3) * 1e4) / 1e4 };
    }
    this.newest[s] = this.last[s] = bar;
    return bar;
  }

  /** `n` updates at `rate`/s, each in a turn of its own. */
  async paced(n: number): Promise<void> {
    const start = performance.now();
    const flying: Array<Promise<unknown>> = [];
    for (let done = 0; done < n; ) {
      if (done >= ((performance.now() - start) * rate) / 1000) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const s = this.cursor++ % this.ids.length;
      flying.push(this.writer.write(TOKEN, this.ids[s]!, this.next(s)));
      done++;
      await new Promise((r) => setImmediate(r)); // the turn ends
      if (flying.length >= 5000) await Promise.all(flying.splice(0));
    }
    await Promise.all(flying);
  }

  /** `n` updates in turns of perTurn, each turn answered before the next (one call per turn, whatever the writer), or paced with a rate. */
  async run(n: number): Promise<void> {
    if (rate > 0) return this.paced(n);
    for (let done = 0; done < n; ) {
      const turn: Array<Promise<unknown>> = [];
      for (let j = 0; j < perTurn && done < n; j++, done++) {
        const s = this.cursor++ % this.ids.length;
        turn.push(this.writer.write(TOKEN, this.ids[s]!, this.next(s)));
      }
      await Promise.all(turn);
    }
  }
}

interface Sample {
  cpuS: number;
  scriptS: number;
  scripts: number;
}

async function redisSample(c: Redis): Promise<Sample> {
  const cpu = await c.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? NaN);
  const stats = await c.info('commandstats');
  const m = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(stats);
  return { cpuS: field('used_cpu_user') + field('used_cpu_sys'), scriptS: Number(m?.[2] ?? 0) / 1e6, scripts: Number(m?.[1] ?? 0) };
}

const server = await RedisProcess.start();
const control = new Redis(server.url);
// The edge: a process of its own (redis-cli), so what it does is not counted as the writer's CPU.
const listener = spawn('redis-cli', ['-p', String(server.port), 'psubscribe', 'a:ch:*', 'b:ch:*'], { stdio: 'ignore' });
process.on('exit', () => listener.kill());
await control.set(LEASE, TOKEN);

const feeds: Feed[] = [];
const readers: Reader[] = [];
const prefixes = ['a:', 'b:'];
for (const [i, root] of roots.entries()) {
  const { FencedWriter } = await import(`${root}/engine/src/cluster/fenced-writer.ts`);
  const { seriesId } = await import(`${root}/engine/src/domain/series-id.ts`);
  const { seriesKeys } = await import(`${root}/engine/src/cluster/cluster-keys.ts`);
  const redis = new Redis(server.url); // each checkout defines its own scripts on its connection
  const writer = new FencedWriter({ redis, keyPrefix: prefixes[i], leaseKey: LEASE, bufferSize: 1000, historyUpdates: 1000 }) as Writer;
  const ids = Array.from({ length: SERIES }, (_, s) => seriesId(`BENCH${String(s).padStart(2, '0')}USDT`, '1m') as SeriesId);
  if (!(seriesKeys(ids[0], prefixes[i]).channel as string).startsWith(`${prefixes[i]}ch:`)) throw new Error('channels are not named as the listener expects');
  const { SeriesReader } = await import(`${root}/engine/src/cluster/series-reader.ts`);
  readers.push(new SeriesReader(redis, prefixes[i]) as Reader);
  const feed = new Feed(ids, writer);
  await feed.preload();
  feeds.push(feed);
}
console.log(`${roots.map((r, i) => `${'ab'[i]} = ${r}`).join(', ')}; ${SERIES} series x ${PRELOAD} bars preloaded; ${rounds} rounds of ${updates} updates each, ${rate > 0 ? `${rate}/s, one per turn` : `${perTurn} per turn`}`);

const results = feeds.map(() => ({ redis: [] as number[], script: [] as number[], writer: [] as number[], perCall: [] as number[] }));
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await feeds[0]!.run(2000); // warm-up (JIT) of both
await feeds[1]!.run(2000);
for (let r = 0; r < rounds; r++) {
  for (const i of r % 2 ? [1, 0] : [0, 1]) {
    const before = await redisSample(control);
    const cpu0 = process.cpuUsage();
    await feeds[i]!.run(updates);
    const cpu = process.cpuUsage(cpu0);
    const after = await redisSample(control);
    const res = results[i]!;
    res.redis.push(((after.cpuS - before.cpuS) * 1e6) / updates);
    res.script.push(((after.scriptS - before.scriptS) * 1e6) / updates);
    res.writer.push((cpu.user + cpu.system) / updates);
    res.perCall.push(updates / (after.scripts - before.scripts));
    console.log(
      `round ${r + 1} ${'ab'[i]}: redis ${res.redis.at(-1)!.toFixed(2)} µs/update (scripts ${res.script.at(-1)!.toFixed(2)}), writer ${res.writer.at(-1)!.toFixed(2)} µs/update, ${res.perCall.at(-1)!.toFixed(1)} updates/call`,
    );
  }
}
const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
for (const [name, key] of [
  ['redis CPU', 'redis'],
  ['scripts (evalsha usec)', 'script'],
  ['writer CPU', 'writer'],
] as const) {
  console.log(`${name.padEnd(24)} a ${med(a[key]).toFixed(2)} µs/update  b ${med(b[key]).toFixed(2)} µs/update  b/a ${(med(b[key]) / med(a[key])).toFixed(3)}`);
}

// Both checkouts must have stored the same, as each one's reader sees it: bars, offsets, and the history's updates.
for (let s = 0; s < SERIES; s++) {
  const [a, b] = await Promise.all(readers.map((r, i) => r.snapshot(feeds[i]!.ids[s]!, PRELOAD)));
  const seen = (x: NonNullable<typeof a>) => JSON.stringify([x.offset, x.bars, x.history.map((u) => [u.offset, u.bar])]);
  if (seen(a!) !== seen(b!)) throw new Error(`${feeds[0]!.ids[s]!.key}: the checkouts stored different things`);
}
const subscribers = Number(/^pubsub_patterns:(\d+)/m.exec(await control.info('stats'))?.[1] ?? 0);
console.log(`both stored the same; ${subscribers} pattern subscriptions (the listener) at the end`);
control.disconnect();
listener.kill();
await server.stop();
process.exit(0);
