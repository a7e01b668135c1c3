import { bucketOpen, nextOpen, parseInterval } from '../src/domain/interval.ts';
import { LruCache } from './lru-cache.ts';
import { symbolCode, symbolSpec } from './symbol-spec.ts';

export { DEFAULT_SIM_SYMBOLS, symbolSpec } from './symbol-spec.ts';

/**
 * Deterministic prices: a pure function of (seed, symbol, time), so REST, the stream and `truth` agree
 * exactly and any candle is computable without replaying history. The finest series is 1m; every
 * coarser candle is the exact aggregate of its 1m candles (prices are integers in ticks, volumes and
 * trade counts integers), as on Binance. `1s` candles come straight from the price function and do
 * not aggregate into 1m (only their trade ids line up with the minutes').
 */
export interface Candle {
  openTime: number;
  /** Prices in ticks. */
  o: number;
  h: number;
  l: number;
  c: number;
  /** Base volume, whole units. */
  v: number;
  /** Quote volume in (volume unit x tick): each minute's volume priced at its close, summed. */
  q: number;
  /** Taker-buy base volume (half of each minute's, rounded down) and its quote volume, as v and q. */
  tv: number;
  tq: number;
  /** Id of the candle's first trade (trade ids run on without holes from candle to candle). */
  firstTrade: number;
  trades: number;
}

const SEC = 1_000;
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Intra-minute sample offsets; the minute's close is the next minute's open. */
const SAMPLES = [0, 20_000, 40_000];
const SAMPLE_STEP = 20_000;

function hash32(a: number, b: number, c: number): number {
  let h = (a ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (b >>> 0), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13) ^ (c >>> 0), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}
const unit = (a: number, b: number, c: number) => hash32(a, b, c) / 4294967296;

/** Octaves of value noise: (lattice spacing ms, amplitude in log-price). */
const OCTAVES: ReadonlyArray<readonly [number, number]> = [
  [20_000, 0.0004],
  [MIN, 0.0008],
  [5 * MIN, 0.0012],
  [HOUR, 0.004],
  [DAY, 0.015],
  [10 * DAY, 0.05],
  [100 * DAY, 0.2],
];
/** Reciprocal spacings: a multiply is cheaper than a divide, and x stays a pure function of t. */
const INVERSE = OCTAVES.map(([spacing]) => 1 / spacing);

/**
 * One symbol's price path. Remembers the lattice values of the last cell per octave: walks over
 * neighbouring times (all the sim does) hash once per cell instead of twice per octave per sample.
 * The arithmetic is the same whatever the cache holds, so values do not depend on the call order.
 */
class PricePath {
  private readonly cell = new Float64Array(OCTAVES.length).fill(Number.NaN);
  private readonly lo = new Float64Array(OCTAVES.length);
  private readonly hi = new Float64Array(OCTAVES.length);
  readonly code: number;
  private readonly base: number;
  private readonly tick: number;

  constructor(
    private readonly seed: number,
    symbol: string,
  ) {
    this.code = symbolCode(symbol);
    ({ base: this.base, tick: this.tick } = symbolSpec(symbol));
  }

  /** Price in ticks at time t (ms). */
  at(t: number): number {
    let logp = 0;
    for (let k = 0; k < OCTAVES.length; k++) {
      const amp = OCTAVES[k]![1];
      const x = t * INVERSE[k]!;
      const i = Math.floor(x);
      if (this.cell[k] !== i) {
        this.cell[k] = i;
        this.lo[k] = unit(this.seed + k, this.code, i) * 2 - 1;
        this.hi[k] = unit(this.seed + k, this.code, i + 1) * 2 - 1;
      }
      const f = x - i;
      const s = f * f * (3 - 2 * f);
      const a = this.lo[k]!;
      logp += amp * (a + (this.hi[k]! - a) * s);
    }
    return this.toTicks(logp);
  }

  /**
   * Prices in ticks at from, from + step, ... (out.length samples), octave by octave: the same
   * values as at() (same operations in the same order), several times faster for long runs.
   */
  range(from: number, step: number, out: Float64Array): void {
    out.fill(0);
    for (let k = 0; k < OCTAVES.length; k++) {
      const amp = OCTAVES[k]![1];
      const inverse = INVERSE[k]!;
      let cell = Number.NaN;
      let a = 0;
      let b = 0;
      for (let j = 0; j < out.length; j++) {
        const x = (from + j * step) * inverse;
        const i = Math.floor(x);
        if (i !== cell) {
          cell = i;
          a = unit(this.seed + k, this.code, i) * 2 - 1;
          b = unit(this.seed + k, this.code, i + 1) * 2 - 1;
        }
        const f = x - i;
        const s = f * f * (3 - 2 * f);
        out[j] = out[j]! + amp * (a + (b - a) * s);
      }
    }
    for (let j = 0; j < out.length; j++) out[j] = this.toTicks(out[j]!);
  }

  private toTicks(logp: number): number {
    return Math.max(1, Math.round((this.base * Math.exp(logp)) / this.tick));
  }
}

export class PriceModel {
  private readonly minuteCache = new LruCache<string, Candle>(200_000);
  private readonly hourCache = new LruCache<string, Candle>(300_000);
  private readonly dayCache = new LruCache<string, Candle>(100_000);
  private readonly paths = new Map<string, PricePath>();
  private samples = new Float64Array(0);
  /** First second with trades; trade ids count from 0 there. */
  private readonly listedSecond: number;

  constructor(
    private readonly seed: number,
    readonly listedSince: number,
  ) {
    this.listedSecond = Math.ceil(listedSince / SEC);
  }

  private path(symbol: string): PricePath {
    let p = this.paths.get(symbol);
    if (!p) this.paths.set(symbol, (p = new PricePath(this.seed, symbol)));
    return p;
  }

  /** Price in ticks at time t (ms). */
  ticks(symbol: string, t: number): number {
    return this.path(symbol).at(t);
  }

  /**
   * Trades before second `s` (the id of the first trade at or after it): 3 a second plus bounded
   * noise, non-decreasing, so any candle's count is a difference of two values and ids never skip.
   */
  private tradeId(code: number, s: number): number {
    const noise = (x: number) => Math.floor(unit(this.seed ^ 0x27d4eb2f, code, x) * 4);
    return 3 * (s - this.listedSecond) + noise(s) - noise(this.listedSecond);
  }

  /** A whole 1m candle. */
  minute(symbol: string, t0: number): Candle {
    const key = `${symbol}:${t0}`;
    const hit = this.minuteCache.get(key);
    if (hit) return hit;
    const c = this.partialMinute(symbol, t0, t0 + MIN);
    this.minuteCache.set(key, c);
    return c;
  }

  /** The 1m candle starting at t0 as it stands at time `at` (t0 < at <= t0 + 1m). */
  partialMinute(symbol: string, t0: number, at: number): Candle {
    const path = this.path(symbol);
    const elapsed = Math.min(MIN, Math.max(0, at - t0));
    // Everything moves only at sample points, so forming updates never overshoot the final candle.
    const upTo = elapsed >= MIN ? MIN : SAMPLES.filter((s) => s <= elapsed).pop()!;
    const o = path.at(t0);
    let h = o;
    let l = o;
    let c = o;
    for (let off = SAMPLE_STEP; off <= upTo; off += SAMPLE_STEP) {
      c = path.at(t0 + off);
      if (c > h) h = c;
      if (c < l) l = c;
    }
    const fullVolume = this.minuteVolume(path.code, t0);
    const v = upTo === MIN ? fullVolume : Math.floor((fullVolume * upTo) / MIN);
    const firstTrade = this.tradeId(path.code, t0 / SEC);
    const tv = Math.floor(v / 2);
    return { openTime: t0, o, h, l, c, v, q: v * c, tv, tq: tv * c, firstTrade, trades: this.tradeId(path.code, (t0 + upTo) / SEC) - firstTrade };
  }

  /** Aggregate of the 1m candles in [from, to) (minute-aligned), up to `at` (partial last minute). */
  aggregate(symbol: string, from: number, to: number, at = Infinity): Candle | undefined {
    let agg: Candle | undefined;
    const start = Math.max(from, Math.ceil(this.listedSince / MIN) * MIN);
    const end = Math.min(to, at);
    let t = start;
    while (t < end) {
      let part: Candle;
      if (t % DAY === 0 && t + DAY <= end) {
        part = this.cached(this.dayCache, symbol, t, DAY);
        t += DAY;
      } else if (t % HOUR === 0 && t + HOUR <= end) {
        part = this.cached(this.hourCache, symbol, t, HOUR);
        t += HOUR;
      } else if (t + MIN <= end) {
        // Whole minutes up to the next hour (or the end) in one pass over the samples: a 15m or 30m
        // history is then not a cache lookup per minute (that thrashed the minute cache with many symbols).
        const upTo = Math.min(Math.floor(t / HOUR) * HOUR + HOUR, Math.floor(end / MIN) * MIN);
        part = upTo - t === MIN ? this.minute(symbol, t) : this.aggregateMinutes(symbol, t, upTo);
        t = upTo;
      } else {
        part = this.partialMinute(symbol, t, end);
        t += MIN;
      }
      agg = merge(agg, part);
    }
    return agg ? { ...agg, openTime: from } : undefined;
  }

  private cached(cache: LruCache<string, Candle>, symbol: string, t: number, span: number): Candle {
    const key = `${symbol}:${t}`;
    let c = cache.get(key);
    if (!c) {
      c = span === DAY ? this.aggregateHours(symbol, t) : this.aggregateMinutes(symbol, t, t + span);
      cache.set(key, c);
    }
    return c;
  }

  /**
   * Whole minutes [from, to) in one pass over the sample points: a minute's high/low are the max/min
   * of its samples and its close is the next minute's open, so this equals merging the 1m candles.
   */
  private aggregateMinutes(symbol: string, from: number, to: number): Candle {
    const path = this.path(symbol);
    const n = (to - from) / SAMPLE_STEP + 1;
    if (this.samples.length !== n) this.samples = new Float64Array(n);
    path.range(from, SAMPLE_STEP, this.samples);
    const o = this.samples[0]!;
    const c = this.samples[n - 1]!;
    let h = o;
    let l = o;
    for (const p of this.samples) {
      if (p > h) h = p;
      if (p < l) l = p;
    }
    let v = 0;
    let q = 0;
    let tv = 0;
    let tq = 0;
    const perMinute = MIN / SAMPLE_STEP;
    for (let m = 0, t = from; t < to; m++, t += MIN) {
      const mv = this.minuteVolume(path.code, t);
      const close = this.samples[(m + 1) * perMinute]!;
      v += mv;
      q += mv * close;
      tv += Math.floor(mv / 2);
      tq += Math.floor(mv / 2) * close;
    }
    const firstTrade = this.tradeId(path.code, from / SEC);
    return { openTime: from, o, h, l, c, v, q, tv, tq, firstTrade, trades: this.tradeId(path.code, to / SEC) - firstTrade };
  }

  private aggregateHours(symbol: string, from: number): Candle {
    let agg: Candle | undefined;
    for (let t = from; t < from + DAY; t += HOUR) agg = merge(agg, this.cached(this.hourCache, symbol, t, HOUR));
    return agg!;
  }

  private minuteVolume(code: number, t0: number): number {
    return 1 + Math.floor(unit(this.seed ^ 0x5bd1e995, code, t0 / MIN) * 400);
  }

  /** One candle of any interval whose bucket opens at `open`, as it stands at `at`. */
  candle(symbol: string, interval: string, open: number, at: number, tzOffsetMs = 0): Candle | undefined {
    if (interval === '1s') return this.second(symbol, open, at);
    return this.aggregate(symbol, open, nextOpen(open, interval, tzOffsetMs), at);
  }

  /**
   * 1s candles come straight from the price function (they do not aggregate into 1m). A second
   * without trades is flat at the previous price with zero volume, as Binance sends empty 1s candles.
   */
  second(symbol: string, t0: number, at: number): Candle | undefined {
    if (t0 < this.listedSince) return undefined;
    const path = this.path(symbol);
    const firstTrade = this.tradeId(path.code, t0 / SEC);
    const trades = at >= t0 + SEC ? this.tradeId(path.code, t0 / SEC + 1) - firstTrade : 0;
    const o = path.at(t0);
    const c = trades > 0 ? path.at(t0 + SEC) : o;
    const tv = Math.floor(trades / 2);
    return { openTime: t0, o, h: Math.max(o, c), l: Math.min(o, c), c, v: trades, q: trades * c, tv, tq: tv * c, firstTrade, trades };
  }

  /** Open time of the first bucket with data. */
  firstOpen(interval: string, tzOffsetMs = 0): number {
    return interval === '1s' ? this.listedSecond * SEC : bucketOpen(this.listedSince, parseInterval(interval), tzOffsetMs);
  }
}

function merge(a: Candle | undefined, b: Candle): Candle {
  if (!a) return { ...b };
  return { openTime: a.openTime, o: a.o, h: Math.max(a.h, b.h), l: Math.min(a.l, b.l), c: b.c, v: a.v + b.v, q: a.q + b.q, tv: a.tv + b.tv, tq: a.tq + b.tq, firstTrade: a.firstTrade, trades: a.trades + b.trades };
}
