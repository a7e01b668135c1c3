/**
 * Peak RSS of replaying a large generated recording at max speed to one WebSocket client, for a
 * checkout (this one by default, or an older one to compare: one process each).
 *
 *   npx tsx bench/micro/replay-memory.ts [repo root=.] [frames=1500000]
 *
 * The recording (~330-byte kline frames, 4 symbols, a few REST pages; 45 MB gzip for 1.5 M frames)
 * is generated once in the OS temp directory and kept there for the next run (delete it after).
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { WebSocket } from 'ws';

const root = resolve(process.argv[2] ?? '.');
const frames = Number(process.argv[3] ?? 1_500_000);
const file = `${tmpdir()}/replay-memory-${frames}.jsonl.gz`;

async function generate(): Promise<void> {
  const gz = createGzip({ level: 6 });
  const out = gz.pipe(createWriteStream(file));
  const write = async (line: unknown) => {
    if (!gz.write(JSON.stringify(line) + '\n')) await once(gz, 'drain');
  };
  const symbols = ['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'SOLUSDT'];
  const t0 = 1_700_000_000_000;
  await write({ k: 'meta', t: t0, symbols, intervals: ['1m'], source: 'sim' });
  for (const s of symbols) {
    const rows = Array.from({ length: 1000 }, (_, i) => [t0 - (1000 - i) * 60_000, '43210.12', '43250.50', '43190.01', '43222.20', '123.456', t0 - (999 - i) * 60_000 - 1, '5331234.12', 100, '61.2', '2650000.1', '0']);
    await write({ k: 'rest', t: t0, a: t0, q: `/api/v3/klines?symbol=${s}&interval=1m&limit=1000`, s: 200, b: JSON.stringify(rows) });
  }
  let price = 43210;
  for (let i = 0; i < frames; i++) {
    const s = symbols[i % 4]!;
    const t = t0 + i * 10;
    price += (Math.random() - 0.5) * 5;
    const k = { t: t - (t % 60_000), T: t - (t % 60_000) + 59_999, s, i: '1m', f: i, L: i + 100, o: '43210.12', c: price.toFixed(2), h: (price + 3).toFixed(2), l: (price - 3).toFixed(2), v: (Math.random() * 100).toFixed(3), n: 100 + (i % 50), x: false, q: '5331234.12', V: '61.2', Q: '2650000.1', B: '0' };
    await write({ k: 'ws', t, d: JSON.stringify({ stream: `${s.toLowerCase()}@kline_1m`, data: { e: 'kline', E: t, s, k } }) });
  }
  gz.end();
  await once(out, 'close');
}

if (!existsSync(file)) await generate();
const { startReplayExchange } = (await import(`${root}/engine/src/record/replay-exchange.ts`)) as typeof import('../../engine/src/record/replay-exchange.ts');

let peakRss = 0;
let peakHeap = 0;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
};
const sampler = setInterval(sample, 20);
const baseline = process.memoryUsage().rss;
const started = performance.now();
const ex = await startReplayExchange({ file, speed: 'max' });
const loaded = performance.now();
sample();
let received = 0;
const ws = new WebSocket(ex.wsUrl);
ws.on('message', () => received++);
await ex.done;
while (received < ex.stats.framesSent) await new Promise((r) => setTimeout(r, 10));
const ended = performance.now();
sample();
clearInterval(sampler);
ws.terminate();
await ex.close();
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
console.log(
  JSON.stringify({
    tree: root,
    frames: ex.stats.framesSent,
    fileSize: mb(statSync(file).size),
    baselineRss: mb(baseline),
    peakRss: mb(peakRss),
    peakHeapUsed: mb(peakHeap),
    startMs: Math.round(loaded - started),
    playMs: Math.round(ended - loaded),
    framesHeldMax: (ex.stats as { framesHeldMax?: number }).framesHeldMax,
  }),
);
process.exit(0);
