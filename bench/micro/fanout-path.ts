/**
 * The engine's per-update JS path in one process, without sockets: frame text → parseStreamFrame →
 * per-series Subject → spliceGaps → the sink's duplicate check → store window → positions (when the
 * checkout has them) → hub.publishBar (publisher stubbed: 5 subscribers, the message built but not
 * sent). Two checkouts are loaded side by side and measured alternately, so a shared machine's load
 * weighs on both alike; prints the median CPU per update of each and their ratio.
 *
 *   npx tsx bench/micro/fanout-path.ts /path/to/checkout-a [/path/to/checkout-b (default .)] [rounds]
 */
import { resolve } from 'node:path';
import { Subject, Subscription } from 'rxjs';
import type { Bar } from '../../engine/src/domain/bar.ts';
import type { SpliceEvent } from '../../engine/src/operators/splice-gaps.ts';

interface PathUnderTest {
  feed(n: number): void;
  parseOnly(n: number): void;
}

let sink = 0;
const subs = new Subscription();

async function build(root: string, frames: readonly string[], syms: readonly string[]): Promise<PathUnderTest> {
  const { parseStreamFrame } = await import(`${root}/engine/src/sources/binance-raw.ts`);
  const { seriesId } = await import(`${root}/engine/src/domain/series-id.ts`);
  const { spliceGaps } = await import(`${root}/engine/src/operators/splice-gaps.ts`);
  const { createMemoryBarStore } = await import(`${root}/engine/src/store/memory-bar-store.ts`);
  const { Hub } = await import(`${root}/engine/src/broadcast/hub.ts`);
  const { sameBar } = await import(`${root}/engine/src/domain/bar.ts`);
  const positionsModule = await import(`${root}/engine/src/cluster/memory-positions.ts`).catch(() => undefined);
  const store = createMemoryBarStore({ bufferSize: 1000 });
  const hub = new Hub(720, 'binance');
  hub.attach({
    subscribers: () => 5,
    publish: (_topic: string, message: string) => {
      sink += message.length;
      return true;
    },
  });
  const positions = positionsModule ? new positionsModule.MemoryPositions({ updates: 1000, maxAgeMs: 600_000, totalUpdates: 250_000 }) : undefined;
  const inputs = new Map<string, Subject<unknown>>();
  for (const s of syms) {
    const id = seriesId(s, '1m');
    const input = new Subject<unknown>();
    inputs.set(id.key, input);
    const events$ = input.pipe(spliceGaps({ interval: '1m', key: id.key, seed: () => store.window(id).newest(), fetchRange: () => [] })) as Subject<SpliceEvent>;
    subs.add(
      events$.subscribe((ev) => {
        if (ev.type !== 'bar') return;
        const prev: Bar | undefined = store.window(id).newest();
        if (prev && prev.openTime === ev.bar.openTime && sameBar(prev, ev.bar)) return;
        store.upsert(id, [ev.bar]);
        hub.publishBar(id, ev.bar, positions?.append(id, ev.bar));
      }),
    );
  }
  return {
    feed(n) {
      for (let j = 0; j < n; j++) {
        const f = parseStreamFrame(frames[j % frames.length]!);
        if (f.kind === 'kline') inputs.get(`${f.symbol}:${f.interval}`)?.next({ type: 'bar', bar: f.bar });
      }
    },
    parseOnly(n) {
      for (let j = 0; j < n; j++) {
        const f = parseStreamFrame(frames[j % frames.length]!);
        if (f.kind === 'kline') sink += f.bar.close;
      }
    },
  };
}

const a = resolve(process.argv[2] ?? '.');
const b = resolve(process.argv[3] ?? '.');
const rounds = Number(process.argv[4] ?? 15);
const syms = Array.from({ length: 20 }, (_, i) => `SYM${i}USDT`);
// Updates of each series' forming bar (consecutive frames of a series always differ), as the relay sends them.
const t = 1_700_000_040_000 - (1_700_000_040_000 % 60_000);
const frames = Array.from({ length: 20_000 }, (_, i) => {
  const s = syms[i % 20]!;
  const k = { t, T: t + 59_999, s, i: '1m', f: 1, L: 2, o: '100.5', c: (100 + (i % 97) * 0.01).toFixed(2), h: '110.0', l: '90.0', v: (1000 + i * 0.5).toFixed(3), n: i, x: false, q: '1', V: '1', Q: '1', B: '0' };
  return JSON.stringify({ stream: `${s.toLowerCase()}@kline_1m`, data: { e: 'kline', E: t + 1000, s, k } });
});
const paths = { A: await build(a, frames, syms), B: await build(b, frames, syms) };
const cpuNs = (f: () => void, n: number) => {
  const c = process.cpuUsage();
  f();
  const u = process.cpuUsage(c);
  return ((u.user + u.system) * 1000) / n;
};
const N = 100_000;
const got: Record<string, number[]> = { 'A whole': [], 'B whole': [], 'A parse': [], 'B parse': [] };
for (const p of Object.values(paths)) p.feed(N); // warm up (and JIT) both
for (let r = 0; r < rounds; r++) {
  for (const k of (r % 2 ? ['B', 'A'] : ['A', 'B']) as Array<'A' | 'B'>) {
    got[`${k} whole`]!.push(cpuNs(() => paths[k].feed(N), N));
    got[`${k} parse`]!.push(cpuNs(() => paths[k].parseOnly(N), N));
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const m = Object.fromEntries(Object.entries(got).map(([k, v]) => [k, median(v)]));
console.log(`A = ${a}\nB = ${b}`);
for (const [k, v] of Object.entries(m)) console.log(`${k}: ${v.toFixed(0)} ns per update (median of ${rounds})`);
console.log(`past the parser: A ${(m['A whole']! - m['A parse']!).toFixed(0)} ns, B ${(m['B whole']! - m['B parse']!).toFixed(0)} ns; whole path B/A ${(m['B whole']! / m['A whole']!).toFixed(2)}`);
if (sink === 0) console.log('(nothing published)');
subs.unsubscribe();
