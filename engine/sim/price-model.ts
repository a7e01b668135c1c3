import { bucketOpen, nextOpen, parseInterval } from '../src/domain/interval.ts';
import { LruCache } from './lru-cache.ts';
import { symbolCode, symbolSpec } from './symbol-spec.ts';

export { DEFAULT_SIM_SYMBOLS, symbolSpec } from './symbol-spec.ts';

/**
 * Deterministic prices: a pure function of (seed, symbol, time), so REST, the stream and `truth` agree
 * exactly and any candle is computable without replaying history.
 *
 * Two levels. Minute boundaries carry a smooth multi-octave path (the open of each minute, which is
 * the close of the one before). Inside a minute the price moves every second: a bridge through four
 * anchors, the open at 0 s, the high and the low at two hashed seconds, the close at 60 s, so a
 * minute's high and low are known without its seconds (history stays one step per minute) while a
 * forming candle moves at every push and grows realistic wicks. Every coarser candle is the exact
 * aggregate of its 1m candles (prices are integers in ticks, volumes and trade counts integers), as
 * on Binance; `1s` candles are the seconds of that bridge and aggregate into 1m exactly in OHLC,
 * volume and trades (quote volumes are priced per candle's close, so those do not add up).
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
/** Seconds in a minute: the minute's samples are 0..60 (61 values, the last is the close). */
const SECONDS = 60;

function hash32(a: number, b: number, c: number): number {
  let h = (a ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (b >>> 0), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13) ^ (c >>> 0), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}
const unit = (a: number, b: number, c: number) => hash32(a, b, c) / 4294967296;
/** Salts that keep the hashed draws of one minute independent of each other. */
const WICK_UP = 0x3c6ef372;
const WICK_DOWN = 0x78dde6e4;
const AT_HIGH = 0x1b873593;
const AT_LOW = 0x2545f491;
const STEP = 0x4f1bbcdc;
const VOLUME = 0x5bd1e995;
const TRADES = 0x27d4eb2f;
/** Mean wick beyond the body, as a fraction of the price (exponential, capped). */
const WICK_MEAN = 0.00025;
const WICK_CAP = 0.003;
/** Second-to-second wiggle of the bridge, as a fraction of the minute's range. */
const WIGGLE = 0.12;

/** Octaves of value noise at minute boundaries: (lattice spacing ms, amplitude in log-price). */
const OCTAVES: ReadonlyArray<readonly [number, number]> = [
  [MIN, 0.0008],
  [5 * MIN, 0.0012],
  [HOUR, 0.004],
  [DAY, 0.015],
  [10 * DAY, 0.05],
  [100 * DAY, 0.2],
];
/** Reciprocal spacings: a multiply is cheaper than a divide, and x stays a pure function of t. */
const INVERSE = OCTAVES.map(([spacing]) => 1 / spacing);

/** A minute's shape, known without its seconds. */
interface MinuteShape {
  o: number;
  h: number;
  l: number;
  c: number;
  /** Whole minute's base volume, at least 60 so that every second adds some. */
  v: number;
}

/**
 * One symbol's price path. Remembers the lattice values of the last cell per octave, and the
 * seconds of the last minute it drew: walks over neighbouring times (all the sim does) hash once per
 * cell, and a forming minute's seconds are drawn once, not at every push. The arithmetic is the same
 * whatever the caches hold, so values do not depend on the call order.
 */
class PricePath {
  private readonly cell = new Float64Array(OCTAVES.length).fill(Number.NaN);
  private readonly lo = new Float64Array(OCTAVES.length);
  private readonly hi = new Float64Array(OCTAVES.length);
  readonly code: number;
  private readonly base: number;
  private readonly tick: number;
  private secondsOf = Number.NaN;
  private readonly secondsBuf = new Float64Array(SECONDS + 1);

  constructor(
    private readonly seed: number,
    symbol: string,
  ) {
    this.code = symbolCode(symbol);
    ({ base: this.base, tick: this.tick } = symbolSpec(symbol));
  }

  /** Price in ticks at a minute boundary t (ms). */
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

  private draw(salt: number, minute: number): number {
    return unit(this.seed ^ salt, this.code, minute);
  }

  /** High, low and volume of minute `m` (index t0 / 1m) given its open and close. */
  shape(m: number, o: number, c: number): MinuteShape {
    const top = Math.max(o, c);
    const bottom = Math.min(o, c);
    const wick = (salt: number, p: number) => Math.floor(p * Math.min(WICK_CAP, -WICK_MEAN * Math.log(1 - this.draw(salt, m))));
    return { o, c, h: top + wick(WICK_UP, top), l: Math.max(1, bottom - wick(WICK_DOWN, bottom)), v: 60 + Math.floor(this.draw(VOLUME, m) * 400) };
  }

  /**
   * The minute's 61 second-prices (0 s is the open, 60 s the close): a bridge through the open, the
   * high at one hashed second, the low at another, and the close, wiggling in between within
   * [low, high]. The returned buffer is reused by the next call.
   */
  seconds(m: number, s: MinuteShape): Float64Array {
    const out = this.secondsBuf;
    if (this.secondsOf === m) return out;
    this.secondsOf = m;
    const atHigh = 1 + Math.floor(this.draw(AT_HIGH, m) * (SECONDS - 1));
    let atLow = 1 + Math.floor(this.draw(AT_LOW, m) * (SECONDS - 2));
    if (atLow >= atHigh) atLow++;
    const anchors: Array<readonly [number, number]> = [[0, s.o], [atHigh, s.h], [atLow, s.l], [SECONDS, s.c]];
    anchors.sort((a, b) => a[0] - b[0]);
    const sigma = (s.h - s.l) * WIGGLE;
    for (let k = 0; k + 1 < anchors.length; k++) {
      const [s0, y0] = anchors[k]!;
      const [s1, y1] = anchors[k + 1]!;
      // A random walk from s0, pinned to the anchors at both ends (a Brownian bridge).
      let w = 0;
      for (let j = s0 + 1; j <= s1; j++) out[j] = w += this.draw(STEP, m * 61 + j) * 2 - 1;
      const end = w;
      out[s0] = y0;
      for (let j = s0 + 1; j < s1; j++) {
        const f = (j - s0) / (s1 - s0);
        let y = Math.round(y0 + (y1 - y0) * f + sigma * (out[j]! - end * f));
        // Reflected back inside [low, high] rather than clamped: a clamp would sit flat on the bound.
        if (y > s.h) y = 2 * s.h - y;
        if (y < s.l) y = 2 * s.l - y;
        out[j] = Math.min(s.h, Math.max(s.l, y));
      }
      out[s1] = y1;
    }
    return out;
  }
}

export class PriceModel {
  private readonly minuteCache = new LruCache<string, Candle>(200_000);
  private readonly hourCache = new LruCache<string, Candle>(300_000);
  private readonly dayCache = new LruCache<string, Candle>(100_000);
  /** Whole minutes [from, to) of a bucket still forming, by `symbol:from`: each push adds only the new minutes. */
  private readonly prefixCache = new LruCache<string, { to: number; candle: Candle }>(50_000);
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

  /** Price in ticks at time t (ms), to the second. */
  ticks(symbol: string, t: number): number {
    const t0 = Math.floor(t / MIN) * MIN;
    const path = this.path(symbol);
    return path.seconds(t0 / MIN, this.shapeAt(path, t0))[Math.floor((t - t0) / SEC)]!;
  }

  /**
   * Trades before second `s` (the id of the first trade at or after it): 3 a second plus noise in
   * 0..2, so every second has at least one trade, any candle's count is a difference of two values
   * and ids never skip.
   */
  private tradeId(code: number, s: number): number {
    const noise = (x: number) => Math.floor(unit(this.seed ^ TRADES, code, x) * 3);
    return 3 * (s - this.listedSecond) + noise(s) - noise(this.listedSecond);
  }

  private shapeAt(path: PricePath, t0: number): MinuteShape {
    return path.shape(t0 / MIN, path.at(t0), path.at(t0 + MIN));
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

  /** The 1m candle starting at t0 as it stands at time `at` (t0 < at <= t0 + 1m), to the second. */
  partialMinute(symbol: string, t0: number, at: number): Candle {
    const path = this.path(symbol);
    const shape = this.shapeAt(path, t0);
    const elapsed = Math.min(SECONDS, Math.max(0, Math.floor((at - t0) / SEC)));
    const firstTrade = this.tradeId(path.code, t0 / SEC);
    const trades = this.tradeId(path.code, t0 / SEC + elapsed) - firstTrade;
    let { o, h, l, c, v } = shape;
    if (elapsed < SECONDS) {
      // Forming: everything moves only at whole seconds, so forming updates never overshoot the final.
      const secs = path.seconds(t0 / MIN, shape);
      h = l = c = o;
      for (let j = 1; j <= elapsed; j++) {
        c = secs[j]!;
        if (c > h) h = c;
        if (c < l) l = c;
      }
      v = Math.floor((shape.v * elapsed) / SECONDS);
    }
    const tv = Math.floor(v / 2);
    return { openTime: t0, o, h, l, c, v, q: v * c, tv, tq: tv * c, firstTrade, trades };
  }

  /** Aggregate of the 1m candles in [from, to) (minute-aligned), up to `at` (partial last minute). */
  aggregate(symbol: string, from: number, to: number, at = Infinity): Candle | undefined {
    let agg: Candle | undefined;
    const start = Math.max(from, Math.ceil(this.listedSince / MIN) * MIN);
    const end = Math.min(to, at);
    const forming = at < to;
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
        // Whole minutes up to the next hour (or the end) in one pass: a 15m or 30m history is then
        // not a cache lookup per minute (that thrashed the minute cache with many symbols).
        const upTo = Math.min(Math.floor(t / HOUR) * HOUR + HOUR, Math.floor(end / MIN) * MIN);
        part = upTo - t === MIN ? this.minute(symbol, t) : this.wholeMinutes(symbol, t, upTo, forming);
        t = upTo;
      } else {
        part = this.partialMinute(symbol, t, end);
        t += MIN;
      }
      agg = merge(agg, part);
    }
    return agg ? { ...agg, openTime: from } : undefined;
  }

  /** Whole minutes [from, to); for a bucket still forming, extends the last prefix instead of starting over. */
  private wholeMinutes(symbol: string, from: number, to: number, forming: boolean): Candle {
    if (!forming) return this.aggregateMinutes(symbol, from, to);
    const key = `${symbol}:${from}`;
    const prev = this.prefixCache.get(key);
    let candle: Candle;
    if (prev && prev.to === to) return prev.candle;
    if (prev && prev.to < to) candle = merge(prev.candle, to - prev.to === MIN ? this.minute(symbol, prev.to) : this.aggregateMinutes(symbol, prev.to, to));
    else candle = this.aggregateMinutes(symbol, from, to);
    this.prefixCache.set(key, { to, candle });
    return candle;
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
   * Whole minutes [from, to) in one pass over the minute boundaries: each minute's high and low come
   * from its shape (no seconds drawn), so this equals merging the 1m candles.
   */
  private aggregateMinutes(symbol: string, from: number, to: number): Candle {
    const path = this.path(symbol);
    const n = (to - from) / MIN + 1;
    if (this.samples.length !== n) this.samples = new Float64Array(n);
    const p = this.samples;
    path.range(from, MIN, p);
    let h = 0;
    let l = Infinity;
    let v = 0;
    let q = 0;
    let tv = 0;
    let tq = 0;
    for (let m = 0; m + 1 < n; m++) {
      const close = p[m + 1]!;
      const s = path.shape((from + m * MIN) / MIN, p[m]!, close);
      if (s.h > h) h = s.h;
      if (s.l < l) l = s.l;
      const half = Math.floor(s.v / 2);
      v += s.v;
      q += s.v * close;
      tv += half;
      tq += half * close;
    }
    const firstTrade = this.tradeId(path.code, from / SEC);
    return { openTime: from, o: p[0]!, h, l, c: p[n - 1]!, v, q, tv, tq, firstTrade, trades: this.tradeId(path.code, to / SEC) - firstTrade };
  }

  private aggregateHours(symbol: string, from: number): Candle {
    let agg: Candle | undefined;
    for (let t = from; t < from + DAY; t += HOUR) agg = merge(agg, this.cached(this.hourCache, symbol, t, HOUR));
    return agg!;
  }

  /** One candle of any interval whose bucket opens at `open`, as it stands at `at`. */
  candle(symbol: string, interval: string, open: number, at: number, tzOffsetMs = 0): Candle | undefined {
    if (interval === '1s') return this.second(symbol, open, at);
    return this.aggregate(symbol, open, nextOpen(open, interval, tzOffsetMs), at);
  }

  /**
   * A 1s candle: two neighbouring seconds of the minute's bridge. Until the second is over it is
   * flat at its open with no trades, as Binance's forming 1s candle.
   */
  second(symbol: string, t0: number, at: number): Candle | undefined {
    if (t0 < this.listedSince) return undefined;
    const path = this.path(symbol);
    const m0 = Math.floor(t0 / MIN) * MIN;
    const shape = this.shapeAt(path, m0);
    const j = (t0 - m0) / SEC;
    const secs = path.seconds(m0 / MIN, shape);
    const firstTrade = this.tradeId(path.code, t0 / SEC);
    const o = secs[j]!;
    if (at < t0 + SEC) return { openTime: t0, o, h: o, l: o, c: o, v: 0, q: 0, tv: 0, tq: 0, firstTrade, trades: 0 };
    const c = secs[j + 1]!;
    const v = Math.floor((shape.v * (j + 1)) / SECONDS) - Math.floor((shape.v * j) / SECONDS);
    const tv = Math.floor(v / 2);
    return { openTime: t0, o, h: Math.max(o, c), l: Math.min(o, c), c, v, q: v * c, tv, tq: tv * c, firstTrade, trades: this.tradeId(path.code, t0 / SEC + 1) - firstTrade };
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
