/**
 * Issue 7's performance figures, in-process (no sockets: this measures the computation):
 *  - batch: bars/s through `resample` + three indicators (SMA, EMA, RSI) over 1M 1m bars, against a
 *    hand-written loop doing the same arithmetic (the "ceiling" column);
 *  - live: updates/s through the engine's ingest path (upstream frame text → parse → route →
 *    spliceGaps → store window → hub publish → derived series) with no derived series and with ten
 *    per stream; the ratio must stay ≥ 0.5. The same without the frame parsing is reported too.
 */
import { filter, from, merge, share, Subject, type Subscription } from 'rxjs';
import type { Bar } from '../../engine/src/domain/bar.ts';
import { seriesId } from '../../engine/src/domain/series-id.ts';
import { Hub } from '../../engine/src/broadcast/hub.ts';
import { silentLogger } from '../../engine/src/log.ts';
import { ema, resample, rsi, sma } from '../../engine/src/operators/index.ts';
import { spliceGaps, type SeriesInput } from '../../engine/src/operators/splice-gaps.ts';
import { parseStreamFrame } from '../../engine/src/sources/binance-raw.ts';
import { defineSeries } from '../../engine/src/series/define-series.ts';
import { SeriesRegistry } from '../../engine/src/series/series-registry.ts';
import { createMemoryBarStore } from '../../engine/src/store/memory-bar-store.ts';
import type { Scenario, ScenarioOutput } from '../scenarios/context.ts';

const M = 60_000;

function randomBars(n: number, seed = 7): Bar[] {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const bars: Bar[] = [];
  let price = 100;
  for (let i = 0; i < n; i++) {
    const open = price;
    price = Math.max(1, price * (1 + (rnd() - 0.5) * 0.004));
    bars.push({ openTime: i * M, open, high: Math.max(open, price) * 1.001, low: Math.min(open, price) * 0.999, close: price, volume: 1 + rnd() * 10, closed: true });
  }
  return bars;
}

/**
 * bars/s of resample('5m') feeding SMA(20), EMA(20) and RSI(14), all RxJS, synchronous. Over history
 * every bucket closes, so only closed buckets go on: previews of a bucket still filling up would be
 * computed and thrown away (a live chart wants them; a batch does not).
 */
function batchRx(bars: Bar[]): number {
  const t = performance.now();
  const fiveMin = from(bars).pipe(
    resample('5m', { sourceInterval: '1m' }),
    filter((b) => b.closed),
    share(),
  );
  let points = 0;
  // A synchronous source: the run is over when subscribe returns.
  merge(fiveMin.pipe(sma({ period: 20 })), fiveMin.pipe(ema({ period: 20 })), fiveMin.pipe(rsi({ period: 14 }))).subscribe(() => points++).unsubscribe();
  const s = (performance.now() - t) / 1000;
  if (points === 0) throw new Error('batch produced no points');
  return bars.length / s;
}

/** The same arithmetic as a plain loop: what the machine does with no stream machinery at all. */
function batchLoop(bars: Bar[]): number {
  const t = performance.now();
  let bucket = -1;
  let close = 0;
  const win: number[] = [];
  let sum = 0;
  let e: number | undefined;
  let gain = 0;
  let loss = 0;
  let prev: number | undefined;
  let n = 0;
  let acc = 0;
  const k = 2 / 21;
  const commit = (c: number) => {
    win.push(c);
    sum += c;
    if (win.length > 20) sum -= win.shift()!;
    e = e === undefined ? c : (c - e) * k + e;
    if (prev !== undefined) {
      const d = c - prev;
      gain = (gain * 13 + Math.max(d, 0)) / 14;
      loss = (loss * 13 + Math.max(-d, 0)) / 14;
    }
    prev = c;
    n++;
    acc += sum / win.length + e + (loss === 0 ? 100 : 100 - 100 / (1 + gain / loss));
  };
  for (const b of bars) {
    const open = Math.floor(b.openTime / (5 * M));
    if (open !== bucket && bucket >= 0) commit(close);
    bucket = open;
    close = b.close;
  }
  const s = (performance.now() - t) / 1000;
  if (!(n > 0 && Number.isFinite(acc))) throw new Error('loop produced nothing');
  return bars.length / s;
}

/** updates/s through the live per-series path, with `seriesPerStream` derived series on each stream. */
/** A Binance combined-stream kline frame for `bar` (what the upstream socket delivers). */
function frameText(symbol: string, bar: Bar, eventTime: number): string {
  const n = (x: number) => x.toFixed(8);
  return JSON.stringify({
    stream: `${symbol.toLowerCase()}@kline_1m`,
    data: { e: 'kline', E: eventTime, s: symbol, k: { t: bar.openTime, T: bar.openTime + M - 1, s: symbol, i: '1m', f: 100, L: 200, o: n(bar.open), c: n(bar.close), h: n(bar.high), l: n(bar.low), v: n(bar.volume), n: 100, x: bar.closed, q: n(bar.volume * bar.close), V: n(bar.volume / 2), Q: n((bar.volume * bar.close) / 2), B: '0' } },
  });
}

/**
 * updates/s through the live path with `seriesPerStream` derived series on each stream. `fromFrames`:
 * each update starts as the upstream frame's text (parsed and routed as the engine does), which is
 * what ingest means; otherwise bars are pushed into the per-series pipeline directly.
 */
export function live(seriesPerStream: number, listeners: 0 | 1, fromFrames = true, streams = 20, updatesPerBar = 10, barsPerStream = 500): number {
  const store = createMemoryBarStore({ bufferSize: 1000 });
  const hub = new Hub(720, 'bench');
  let published = 0;
  // listeners 1: every topic has a subscriber, so every message is built (the engine skips topics nobody reads).
  hub.attach({ publish: () => (published++, true), subscribers: () => listeners });
  const defs = [
    defineSeries({ name: 'sma', pane: 'overlay', params: { period: 20 }, operator: ({ period }) => sma({ period }) }),
    defineSeries({ name: 'ema', pane: 'overlay', params: { period: 20 }, operator: ({ period }) => ema({ period }) }),
    defineSeries({ name: 'rsi', pane: 'oscillator', params: { period: 14 }, operator: ({ period }) => rsi({ period }) }),
  ];
  const bars = new Map<string, Subject<Bar>>();
  const registry = new SeriesRegistry(defs, {
    bufferSize: 1000,
    log: silentLogger,
    history: (id) => store.window(id).last(1000),
    bars$: (id) => bars.get(id.key)!.asObservable(),
    publish: (topic, msg) => hub.publish(topic, msg),
    listening: (topic) => hub.listening(topic),
    listenersVersion: () => hub.followVersion,
    onError: () => {},
    // This measures the most updates/s the series take, all of the process's time: none may be stopped for it (SERIES_LIVE_SHARE).
    liveShare: 1,
  });
  const ids = Array.from({ length: streams }, (_, i) => seriesId(`SYM${i}USDT`, '1m'));
  const pipelines: Subscription[] = [];
  const inputs = ids.map((id) => {
    const input = new Subject<SeriesInput>();
    const out = new Subject<Bar>();
    bars.set(id.key, out);
    pipelines.push(
      input.pipe(spliceGaps({ interval: '1m', seed: () => store.window(id).newest(), fetchRange: () => from([[]]) })).subscribe((ev) => {
        if (ev.type !== 'bar') return;
        store.upsert(id, [ev.bar]);
        hub.publishBar(id, ev.bar);
        out.next(ev.bar);
      }),
    );
    // Ten variants per stream: three definitions with different parameters.
    const specs = ['sma', 'ema', 'rsi', 'sma:period=50', 'ema:period=50', 'rsi:period=7', 'sma:period=100', 'ema:period=100', 'rsi:period=21', 'sma:period=200'].slice(0, seriesPerStream);
    for (const spec of specs) {
      const req = registry.parse(spec, '1m');
      if (!req.ok) throw new Error(req.error);
      const inst = registry.acquire(req.value[0]!, id).instance;
      if (listeners) hub.follow(inst.topic);
    }
    return input;
  });
  const source = randomBars(barsPerStream);
  // Every update, built before the clock starts: as frames for the ingest figure, as bars otherwise.
  const updatesIn: Array<{ text: string; bar: Bar; input: Subject<SeriesInput> }> = [];
  for (const b of source) {
    for (let u = 1; u <= updatesPerBar; u++) {
      const closed = u === updatesPerBar;
      const bar: Bar = { ...b, close: b.open + ((b.close - b.open) * u) / updatesPerBar, closed };
      inputs.forEach((input, i) => updatesIn.push({ text: fromFrames ? frameText(ids[i]!.symbol, bar, bar.openTime + u) : '', bar, input }));
    }
  }
  const routes = new Map(ids.map((id, i) => [id.key, inputs[i]!]));
  const t = performance.now();
  let updates = 0;
  for (const x of updatesIn) {
    if (fromFrames) {
      const f = parseStreamFrame(x.text);
      if (f.kind === 'kline') routes.get(`${f.symbol}:${f.interval}`)!.next({ type: 'bar', bar: f.bar });
    } else x.input.next({ type: 'bar', bar: x.bar });
    updates++;
  }
  const s = (performance.now() - t) / 1000;
  registry.stop();
  for (const p of pipelines) p.unsubscribe();
  if (listeners && published < updates) throw new Error('pipeline dropped updates');
  if (store.window(ids[0]!).size !== barsPerStream) throw new Error('pipeline dropped bars');
  return updates / s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const quant: Scenario = async (env) => {
  const runs = env.opts.quick ? 1 : 3;
  const bars = randomBars(env.opts.quick ? 200_000 : 1_000_000);
  // Warm the JIT once, then measure.
  batchRx(bars.slice(0, 50_000));
  batchLoop(bars.slice(0, 50_000));
  const rx = median(Array.from({ length: runs }, () => batchRx(bars)));
  const loop = median(Array.from({ length: runs }, () => batchLoop(bars)));
  // Warm both paths up (the JIT, and the heap's steady state), then measure them alternately, so a
  // drift of the machine or the heap during the run weighs on both sides of each ratio alike.
  const pairs = (listeners: 0 | 1, fromFrames: boolean) => {
    for (let i = 0; i < 2; i++) {
      live(0, listeners, fromFrames);
      live(10, listeners, fromFrames);
    }
    const out: Array<[number, number]> = [];
    for (let i = 0; i < (env.opts.quick ? 3 : 7); i++) out.push([live(0, listeners, fromFrames), live(10, listeners, fromFrames)]);
    return { without: median(out.map((p) => p[0])), with10: median(out.map((p) => p[1])), ratio: median(out.map((p) => p[1] / p[0])) };
  };
  const ingest = pairs(0, true);
  const pipeline = pairs(0, false);
  const heard = pairs(1, true);
  env.log(`quant: batch ${Math.round(rx)} bars/s (loop ${Math.round(loop)}); ingest ${Math.round(ingest.without)} → ${Math.round(ingest.with10)} updates/s with 10 series (${ingest.ratio.toFixed(2)}); pipeline only ${Math.round(pipeline.without)} → ${Math.round(pipeline.with10)} (${pipeline.ratio.toFixed(2)}); every topic listened to ${Math.round(heard.without)} → ${Math.round(heard.with10)} (${heard.ratio.toFixed(2)})`);
  const pair = (what: string, r: typeof ingest, target: boolean) => [
    { scenario: 'quant', metric: `${what}: updates/s, no derived series`, unit: 'updates/s', better: 'higher' as const, values: { engine: Math.round(r.without) } },
    { scenario: 'quant', metric: `${what}: updates/s, 10 derived series per stream`, unit: 'updates/s', better: 'higher' as const, values: { engine: Math.round(r.with10) } },
    { scenario: 'quant', metric: `${what}: with 10 derived series ÷ without (median of alternating pairs)`, unit: '×', better: 'higher' as const, values: { engine: Number(r.ratio.toFixed(2)) }, ...(target ? { target: { engineMin: 0.5, label: '≥ 0.5' } } : {}) },
  ];
  const out: ScenarioOutput = {
    rows: [
      { scenario: 'quant', metric: `batch: resample(5m) + SMA + EMA + RSI over ${bars.length / 1e6}M bars (ceiling = plain loop)`, unit: 'bars/s', better: 'higher', values: { engine: Math.round(rx), ceiling: Math.round(loop) }, target: { engineMin: 1_000_000, label: 'engine ≥ 1,000,000 bars/s' } },
      ...pair('live ingest from upstream frames, no clients', ingest, true),
      ...pair('pipeline only (bars pushed in, no frame parsing), no clients', pipeline, false),
      ...pair('live ingest from upstream frames, every topic listened to', heard, false),
    ],
    data: { batchRx: rx, batchLoop: loop, ingest, pipeline, heard },
    limits: ['quant: single-threaded JavaScript in the bench process; no sockets involved (computation only).'],
  };
  return out;
};

// Standalone: `npx tsx bench/quant/quant.ts [--quick]`
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const res = await quant({ opts: { quick, repeats: 1, rampRepeats: 1, soakSeconds: 0, servers: ['engine'], profileDir: undefined, deadline: Infinity }, log: (m: string) => console.log(m) } as never);
  for (const r of res.rows) console.log(r.metric, JSON.stringify(r.values), r.note ?? '');
}

