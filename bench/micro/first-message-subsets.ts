/**
 * Time to build a connect's first message with derived series when each client asks for the same
 * series in another order or another subset (an attacker-style probe shuffled 12 series per connect:
 * every connect missed the cache and serialized every point again), for two checkouts side by side
 * in one process: 12 instances of `points` points over a 720-bar snapshot, `connects` connects each
 * asking a random order of a random subset of 6 to 12 of them (the same sequence for both).
 *
 *   npx tsx bench/micro/first-message-subsets.ts /path/to/checkout-a [/path/to/checkout-b (default .)] [connects] [points]
 */
import { resolve } from 'node:path';
import { mulberry32 } from '../lib/rng.ts';

const roots = [resolve(process.argv[2] ?? '.'), resolve(process.argv[3] ?? '.')];
const CONNECTS = Number(process.argv[4] ?? 400);
const POINTS = Number(process.argv[5] ?? 720);
const M = 60_000;


async function side(root: string): Promise<{ root: string; msPerConnect: number; bytes: number }> {
  const { firstMessage } = await import(`${root}/engine/src/broadcast/first-message.ts`);
  const { Hub } = await import(`${root}/engine/src/broadcast/hub.ts`);
  const { PointWindow } = await import(`${root}/engine/src/series/point-window.ts`);
  const { SeriesWindow } = await import(`${root}/engine/src/store/series-window.ts`);
  const { seriesId } = await import(`${root}/engine/src/domain/series-id.ts`);
  const id = seriesId('BTCUSDT', '1m');
  const hub = new Hub(720, 'sim');
  const window = new SeriesWindow(1000);
  for (let i = 1; i <= POINTS; i++) window.upsert({ openTime: i * M, open: i, high: i + 1, low: i - 1, close: i + 0.5, volume: 10 + i, closed: true });
  const instances = Array.from({ length: 12 }, (_, k) => {
    const w = new PointWindow(1000);
    for (let i = 1; i <= POINTS; i++) w.upsert({ time: i * M, value: Math.sin(i + k) * 100 + 0.123456789, closed: true });
    return { label: `s${k}:period=${k + 2}`, topic: `series/s${k}`, window: w, state: 'live' };
  });
  const random = mulberry32(11);
  let bytes = 0;
  const t0 = performance.now();
  for (let c = 0; c < CONNECTS; c++) {
    const ask = [...instances].sort(() => random() - 0.5).slice(0, 6 + Math.floor(random() * 7));
    bytes += firstMessage({ id, window, hub, historyOnConnect: 720, positions: undefined, resume: undefined, instances: ask }).length;
  }
  return { root, msPerConnect: (performance.now() - t0) / CONNECTS, bytes: bytes / CONNECTS };
}

const results: Array<{ root: string; msPerConnect: number; bytes: number }> = [];
for (const root of [...roots, ...roots]) results.push(await side(root));
for (const r of results) console.log(`${r.root}: ${r.msPerConnect.toFixed(2)} ms per connect, ${Math.round(r.bytes)} bytes each`);
const ms = (root: string) => Math.min(...results.filter((r) => r.root === root).map((r) => r.msPerConnect));
console.log(`ratio b/a (best of 2 each): ${(ms(roots[1]!) / ms(roots[0]!)).toFixed(3)} (${CONNECTS} connects, 12 series of ${POINTS} points)`);
