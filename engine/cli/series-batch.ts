import { parseArgs } from 'node:util';
import { parseInterval } from '../src/domain/interval.ts';
import { isValidSymbol } from '../src/domain/series-id.ts';
import { BatchUsageError, runSeriesBatch } from './run-series-batch.ts';
import { BinanceRest } from '../src/sources/binance-rest.ts';
import { type SimExchange, startSimExchange } from '../sim/sim-exchange.ts';

/**
 * `npm run series -- --series rsi:period=21 --symbol BTCUSDT --interval 1m --from 2024-01-01 --to 2024-03-01 --out rsi.csv`
 * Runs a derived series (SERIES_DIR) over history and writes its closed points as CSV or JSON lines.
 * History comes from the store, then the exchange's REST; or, with `--recording`, from a recording.
 */
const USAGE = `usage: npm run series -- --series <name>[:key=value;…] --symbol BTCUSDT --interval 1m --from 2024-01-01 --to 2024-03-01 --out out.csv
  [--format csv|jsonl] [--rest-url URL] [--redis-url URL] [--series-dir series] [--weight-budget 3000]
  [--recording file.jsonl.gz]   read the bars from a recording (npm run record) instead of the store and REST`;

function fail(flag: string, msg: string): never {
  process.stderr.write(`series: --${flag}: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: Object.fromEntries(['series', 'symbol', 'interval', 'from', 'to', 'out', 'format', 'warmup', 'rest-url', 'redis-url', 'series-dir', 'weight-budget', 'recording'].map((k) => [k, { type: 'string' as const }])),
    strict: true,
  }));
} catch (e) {
  const m = /'--?([\w-]+)'/.exec((e as Error).message);
  fail(m?.[1] ?? 'args', (e as Error).message);
}
for (const f of ['series', 'symbol', 'interval', 'from', 'to', 'out']) if (!values[f]) fail(f, 'is required');
const date = (flag: string) => {
  const raw = values[flag]!;
  const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw.length === 10 ? `${raw}T00:00:00Z` : raw);
  if (!Number.isFinite(t)) fail(flag, `'${raw}' is not a date (YYYY-MM-DD, ISO time or epoch ms)`);
  return t;
};
const from = date('from');
const to = date('to');
if (from >= to) fail('to', 'must be after --from');
const symbol = values.symbol!.toUpperCase();
if (!isValidSymbol(symbol)) fail('symbol', `'${values.symbol}' is not a symbol like BTCUSDT`);
try {
  parseInterval(values.interval!);
} catch (e) {
  fail('interval', (e as Error).message);
}
const format = values.format ?? (values.out!.endsWith('.jsonl') ? 'jsonl' : 'csv');
if (format !== 'csv' && format !== 'jsonl') fail('format', 'csv or jsonl');
// Runs are warmed up as the engine's are (the definition's own warmup): --warmup is no longer needed.
// Still accepted, so that scripts written for it run, and said.
if (values.warmup !== undefined) {
  const warmup = Number(values.warmup);
  if (!(Number.isInteger(warmup) && warmup >= 0 && warmup <= 100_000)) fail('warmup', 'a number of bars from 0 to 100000');
  process.stderr.write("series: --warmup is ignored: every run is warmed up as the engine's are, by the series' own warmup\n");
}
const weightBudget = Number(values['weight-budget'] ?? 3000);
if (!(weightBudget >= 10 && weightBudget <= 6000)) fail('weight-budget', 'from 10 to 6000');

// Like `npm start` (SOURCE=auto): an exchange that does not answer within 3 s means the simulator,
// said loudly; SOURCE=binance insists on the exchange, SOURCE=sim asks for the simulator.
const source = process.env.SOURCE ?? 'auto';
let restUrl = values['rest-url'] ?? process.env.BINANCE_REST_URL ?? 'https://api.binance.com';
let sim: SimExchange | undefined;
if (!values.recording && (source === 'sim' || (source === 'auto' && !(await reachable(restUrl))))) {
  sim = await startSimExchange({ symbols: [symbol] });
  if (source !== 'sim') process.stderr.write(`series: ${restUrl} did not answer within 3 s: using the SIMULATED exchange (prices are not real; SOURCE=binance to insist)\n`);
  restUrl = sim.restUrl;
}

async function reachable(url: string): Promise<boolean> {
  const probe = new BinanceRest({ baseUrl: url, weightBudget: 100, concurrency: 1 });
  try {
    return await probe.ping(3000);
  } finally {
    await probe.close();
  }
}

const tty = process.stderr.isTTY;
let lastDraw = 0;
const started = Date.now();
try {
  const res = await runSeriesBatch({
    series: values.series!,
    symbol,
    interval: values.interval!,
    from,
    to,
    out: values.out!,
    format,
    restUrl,
    redisUrl: values['redis-url'] ?? process.env.REDIS_URL,
    seriesDir: values['series-dir'] ?? process.env.SERIES_DIR ?? 'series',
    weightBudget,
    recording: values.recording,
    onWarn: (msg) => process.stderr.write(`${tty ? '\n' : ''}series: ${msg}\n`),
    onProgress: ({ bars, expected, points, weight }) => {
      if (!tty || Date.now() - lastDraw < 100) return;
      lastDraw = Date.now();
      const frac = Math.min(1, bars / expected);
      const width = 30;
      const rate = bars / Math.max(0.001, (Date.now() - started) / 1000);
      process.stderr.write(`\r[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${(frac * 100).toFixed(0)}% ${bars} bars, ${points} points, ${Math.round(rate)} bars/s, weight ${weight}   `);
    },
  });
  if (tty) process.stderr.write('\n');
  process.stderr.write(`series: ${res.bars} bars → ${res.points} points in ${(res.ms / 1000).toFixed(2)} s (${Math.round(res.bars / (res.ms / 1000))} bars/s) → ${values.out}\n`);
} catch (e) {
  await sim?.close();
  if (e instanceof BatchUsageError) fail(e.flag, e.message.replace(/^--[\w-]+: /, ''));
  process.stderr.write(`series: ${(e as Error).message}\n`);
  process.exit(1);
}
await sim?.close();
