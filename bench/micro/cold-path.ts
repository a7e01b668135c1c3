/**
 * Main-thread cost of one cold series, piece by piece (issue 12, "on demand": the other clients'
 * latency while cold series load). Real 1,000-row klines bodies from the simulator, then each step of
 * the engine's cold path timed in-process, the way it was (body decoded to text, JSON.parse,
 * parseKlineRows) and the way it is (readKlineBody on the bytes), then the window upsert and the
 * `historical` snapshot (720 candles). `npx tsx bench/micro/cold-path.ts [rounds]`.
 */
import { request } from 'undici';
import { startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { Hub } from '../../engine/src/broadcast/hub.ts';
import { seriesId } from '../../engine/src/domain/series-id.ts';
import { historicalMessage } from '../../engine/src/domain/wire.ts';
import { parseKlineRows } from '../../engine/src/sources/binance-raw.ts';
import { bodyText, readKlineBody } from '../../engine/src/sources/kline-body.ts';
import { createMemoryBarStore } from '../../engine/src/store/memory-bar-store.ts';

const rounds = Number(process.argv[2] ?? 200);
const symbols = Array.from({ length: 20 }, (_, i) => `COLD${String(i).padStart(2, '0')}USDT`);
const sim = await startSimExchange({ host: '127.0.0.1', port: 0, seed: 42, symbols, pushIntervalMs: 1000 });
const bodies: Uint8Array[] = [];
for (const s of symbols) {
  const res = await request(`${sim.restUrl}/api/v3/klines?symbol=${s}&interval=1m&limit=1000`);
  bodies.push(await res.body.bytes());
}
await sim.close();
console.log(`body: ${bodies[0]!.length} bytes, ${(JSON.parse(bodyText(bodies[0]!)) as unknown[]).length} rows`);

const steps = new Map<string, number[]>();
const record = (name: string, ns: number) => {
  const xs = steps.get(name) ?? [];
  xs.push(ns);
  steps.set(name, xs);
};
const time = <T>(name: string, fn: () => T): T => {
  const t0 = process.hrtime.bigint();
  const v = fn();
  record(name, Number(process.hrtime.bigint() - t0));
  return v;
};

const now = Date.now();
for (let r = 0; r < rounds; r++) {
  const bytes = bodies[r % bodies.length]!;
  const id = seriesId(symbols[r % symbols.length]!, '1m');
  const before = process.hrtime.bigint();
  const text = time('before: decode to text', () => bodyText(bytes));
  const body = time('before: JSON.parse', () => JSON.parse(text) as unknown);
  const bars = time('before: parseKlineRows', () => parseKlineRows(body, now));
  record('before: the three', Number(process.hrtime.bigint() - before));
  const fast = time('now: readKlineBody (bytes)', () => readKlineBody(bytes, now));
  if (r === 0 && JSON.stringify(fast) !== JSON.stringify(bars)) throw new Error('readKlineBody differs');
  const store = createMemoryBarStore({ bufferSize: 1000 });
  time('store.upsert (1,000 bars)', () => store.upsert(id, fast!));
  time('hub.snapshot (720 candles)', () => new Hub(720, 'binance').snapshot(id, store.window(id)));
  const last = time('  of which window.last(720)', () => store.window(id).last(720));
  const json = time('  of which historicalMessage', () => historicalMessage(id.symbol, id.interval, last));
  time('  of which the Buffer', () => Buffer.from(json));
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const skip = Math.min(20, Math.floor(rounds / 4)); // warm-up rounds (JIT) left out
const ms = (ns: number) => (ns / 1e6).toFixed(3);
for (const [name, all] of steps) {
  const xs = all.slice(skip);
  console.log(`${name.padEnd(32)} p50 ${ms(pct(xs, 50))} ms  p90 ${ms(pct(xs, 90))} ms  max ${ms(Math.max(...xs))} ms`);
}
