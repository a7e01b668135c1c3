import { bucketOpen, nextOpen, parseInterval } from '../src/domain/interval.ts';
import { symbolCode, symbolSpec } from './symbol-spec.ts';

export { DEFAULT_SIM_SYMBOLS, symbolSpec } from './symbol-spec.ts';

/**
 * Deterministic prices: a pure function of (seed, symbol, time), so REST, the stream and `truth` agree
 * exactly and any candle is computable without replaying history.
 *
 * Built top-down. A day's open and close come from a smooth multi-octave path at day boundaries, its
 * high and low from hashed wicks. A day is split into 24 hours, an hour into 60 minutes, a minute into
 * 60 seconds, each the same way: the children's boundary prices are a bridge through the parent's
 * open, its high and its low (at two hashed boundaries) and its close, wiggling within the parent's
 * range; each child gets hashed wicks inside that range, and the parent's volumes are split among
 * the children exactly (integers). So every candle is the exact aggregate of its children (as on
 * Binance: 1s into 1m into every coarser interval, quote and taker volumes included), a day costs
 * one step whatever its minutes, and a forming candle moves every second, so at every push.
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
  /** Quote volume in (volume unit x tick). */
  q: number;
  /** Taker-buy base volume and its quote volume, as v and q. */
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

function hash32(a: number, b: number, c: number): number {
  let h = (a ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (b >>> 0), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13) ^ (c >>> 0), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}
const unit = (a: number, b: number, c: number) => hash32(a, b, c) / 4294967296;
/** Salts that keep the hashed draws independent of each other. */
const AT_HIGH = 0x1b873593;
const AT_LOW = 0x2545f491;
const STEP = 0x4f1bbcdc;
const WICK_UP = 0x3c6ef372;
const WICK_DOWN = 0x78dde6e4;
const WEIGHT = 0x5bd1e995;
const DAY_DRAW = 0x6a09e667;
const TRADES = 0x27d4eb2f;
/** Second-to-second (or minute-to-minute…) wiggle of a bridge, as a fraction of the parent's range. */
const WIGGLE = 0.12;

/** Octaves of value noise at day boundaries: (lattice spacing ms, amplitude in log-price). */
const OCTAVES: ReadonlyArray<readonly [number, number]> = [
  [DAY, 0.015],
  [10 * DAY, 0.05],
  [100 * DAY, 0.2],
];
const INVERSE = OCTAVES.map(([spacing]) => 1 / spacing);

/** How a level splits a parent: children, hashed wicks (mean and cap as a fraction of the price) and each child's least volume. */
interface LevelSpec {
  readonly n: number;
  readonly salt: number;
  readonly wickMean: number;
  readonly wickCap: number;
  /** Each child's least volume: every second of a minute trades, so a forming bar grows at every push. */
  readonly base: number;
}
const HOURS: LevelSpec = { n: 24, salt: 0x100, wickMean: 0.002, wickCap: 0.02, base: 3600 };
const MINUTES: LevelSpec = { n: 60, salt: 0x200, wickMean: 0.00025, wickCap: 0.003, base: 60 };
/** Seconds have no wicks: a 1s candle spans two neighbouring prices, so the minute's high is a second's close. */
const SECONDS: LevelSpec = { n: 60, salt: 0x300, wickMean: 0, wickCap: 0, base: 1 };

/** A candle's numbers without its time and trades. */
interface Shape {
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
  q: number;
  tv: number;
  tq: number;
}

/** One parent's children, as arrays: boundary prices (n + 1) and each child's high, low and volumes. */
class Level {
  /** Index of the parent (day, hour or minute number) whose children these are. */
  key = Number.NaN;
  readonly b: Float64Array;
  readonly h: Float64Array;
  readonly l: Float64Array;
  readonly v: Float64Array;
  readonly q: Float64Array;
  readonly tv: Float64Array;
  readonly tq: Float64Array;
  readonly w: Float64Array;

  constructor(readonly spec: LevelSpec) {
    const n = spec.n;
    this.b = new Float64Array(n + 1);
    [this.h, this.l, this.v, this.q, this.tv, this.tq, this.w] = Array.from({ length: 7 }, () => new Float64Array(n));
  }

  /** Children [i0, i1) merged. */
  range(i0: number, i1: number): Shape {
    let h = 0;
    let l = Infinity;
    let v = 0;
    let q = 0;
    let tv = 0;
    let tq = 0;
    for (let i = i0; i < i1; i++) {
      if (this.h[i]! > h) h = this.h[i]!;
      if (this.l[i]! < l) l = this.l[i]!;
      v += this.v[i]!;
      q += this.q[i]!;
      tv += this.tv[i]!;
      tq += this.tq[i]!;
    }
    return { o: this.b[i0]!, h, l, c: this.b[i1]!, v, q, tv, tq };
  }
}

/** Splits `total` into parts proportional to `weights` (cumulative floors: integers that add up exactly). */
function splitInteger(total: number, weights: Float64Array, out: Float64Array, base = 0): void {
  const n = weights.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += weights[i]!;
  let acc = 0;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    acc += weights[i]!;
    const cum = i === n - 1 ? total : Math.floor((total * acc) / sum);
    out[i] = base + cum - prev;
    prev = cum;
  }
}

/**
 * One symbol's price path. Keeps the children of the last day, hour and minute it split: walks over
 * neighbouring times (all the sim does) split each parent once. The arithmetic is the same whatever
 * these hold, so values do not depend on the call order.
 */
class PricePath {
  readonly code: number;
  private readonly level: number;
  private readonly tick: number;
  private readonly days = new Level(HOURS);
  private readonly hours = new Level(MINUTES);
  private readonly minutes = new Level(SECONDS);

  constructor(
    private readonly seed: number,
    symbol: string,
  ) {
    this.code = symbolCode(symbol);
    ({ base: this.level, tick: this.tick } = symbolSpec(symbol));
  }

  private draw(salt: number, key: number, j: number): number {
    return unit(((this.seed ^ salt) + Math.imul(j + 1, 0x9e3779b1)) >>> 0, this.code, key);
  }

  /** A wick in ticks beyond `price`: exponential with mean `mean` (a fraction of the price), capped at `cap`. (A method, not a closure: closures made per child are costly.) */
  private wick(mean: number, cap: number, price: number, u: number): number {
    return Math.floor(price * Math.min(cap, -mean * Math.log(1 - u)));
  }

  /** Price in ticks at a day boundary t (ms). */
  private dayPrice(t: number): number {
    let logp = 0;
    for (let k = 0; k < OCTAVES.length; k++) {
      const x = t * INVERSE[k]!;
      const i = Math.floor(x);
      const a = unit(this.seed + k, this.code, i) * 2 - 1;
      const b = unit(this.seed + k, this.code, i + 1) * 2 - 1;
      const f = x - i;
      logp += OCTAVES[k]![1] * (a + (b - a) * f * f * (3 - 2 * f));
    }
    return Math.max(1, Math.round((this.level * Math.exp(logp)) / this.tick));
  }

  /** Day d (index t / 1d) as a whole. */
  day(d: number): Shape {
    const o = this.dayPrice(d * DAY);
    const c = this.dayPrice((d + 1) * DAY);
    const top = Math.max(o, c);
    const bottom = Math.min(o, c);
    const h = top + this.wick(0.006, 0.05, top, this.draw(DAY_DRAW, d, 0));
    const l = Math.max(1, bottom - this.wick(0.006, 0.05, bottom, this.draw(DAY_DRAW, d, 1)));
    const v = 86_400 + Math.floor(288_000 * (0.25 + 1.5 * this.draw(DAY_DRAW, d, 2)));
    const q = v * Math.round((h + l) / 2);
    const tv = Math.floor(v * (0.4 + 0.2 * this.draw(DAY_DRAW, d, 3)));
    return { o, h, l, c, v, q, tv, tq: Math.floor((q * tv) / v) };
  }

  /** The 24 hours of day d. */
  hoursOf(d: number): Level {
    if (this.days.key !== d) this.split(this.day(d), this.days, d);
    return this.days;
  }

  /** The 60 minutes of hour hr (index t / 1h). */
  minutesOf(hr: number): Level {
    if (this.hours.key !== hr) {
      const day = this.hoursOf(Math.floor(hr / 24));
      const i = hr - Math.floor(hr / 24) * 24;
      this.split(day.range(i, i + 1), this.hours, hr);
    }
    return this.hours;
  }

  /** The 60 seconds of minute m (index t / 1m). */
  secondsOf(m: number): Level {
    if (this.minutes.key !== m) {
      const hour = this.minutesOf(Math.floor(m / 60));
      const i = m - Math.floor(m / 60) * 60;
      this.split(hour.range(i, i + 1), this.minutes, m);
    }
    return this.minutes;
  }

  /**
   * Splits a parent into its children: boundary prices bridging open → high → low → close (or low
   * before high) at hashed boundaries, reflected into the parent's range; wicks inside that range;
   * volumes split exactly, each child at least `base`.
   */
  private split(p: Shape, L: Level, key: number): void {
    const { n, salt, wickMean, wickCap, base } = L.spec;
    const { b } = L;
    L.key = key;
    const atHigh = 1 + Math.floor(this.draw(salt ^ AT_HIGH, key, 0) * (n - 1));
    let atLow = 1 + Math.floor(this.draw(salt ^ AT_LOW, key, 0) * (n - 2));
    if (atLow >= atHigh) atLow++;
    const anchors: Array<readonly [number, number]> = atHigh < atLow ? [[0, p.o], [atHigh, p.h], [atLow, p.l], [n, p.c]] : [[0, p.o], [atLow, p.l], [atHigh, p.h], [n, p.c]];
    const sigma = (p.h - p.l) * WIGGLE;
    for (let k = 0; k + 1 < anchors.length; k++) {
      const [s0, y0] = anchors[k]!;
      const [s1, y1] = anchors[k + 1]!;
      // A random walk from s0, pinned to the anchors at both ends (a Brownian bridge).
      let w = 0;
      for (let j = s0 + 1; j <= s1; j++) b[j] = w += this.draw(salt ^ STEP, key, j) * 2 - 1;
      const end = w;
      b[s0] = y0;
      for (let j = s0 + 1; j < s1; j++) {
        const f = (j - s0) / (s1 - s0);
        let y = Math.round(y0 + (y1 - y0) * f + sigma * (b[j]! - end * f));
        // Reflected back inside [low, high] rather than clamped: a clamp would sit flat on the bound.
        if (y > p.h) y = 2 * p.h - y;
        if (y < p.l) y = 2 * p.l - y;
        b[j] = Math.min(p.h, Math.max(p.l, y));
      }
      b[s1] = y1;
    }
    for (let i = 0; i < n; i++) {
      const top = Math.max(b[i]!, b[i + 1]!);
      const bottom = Math.min(b[i]!, b[i + 1]!);
      if (wickMean > 0) {
        L.h[i] = Math.min(p.h, top + this.wick(wickMean, wickCap, top, this.draw(salt ^ WICK_UP, key, i)));
        L.l[i] = Math.max(p.l, bottom - this.wick(wickMean, wickCap, bottom, this.draw(salt ^ WICK_DOWN, key, i)));
      } else {
        L.h[i] = top;
        L.l[i] = bottom;
      }
      L.w[i] = 0.25 + this.draw(salt ^ WEIGHT, key, i);
    }
    splitInteger(p.v - n * base, L.w, L.v, base);
    for (let i = 0; i < n; i++) L.w[i] = L.v[i]! * (L.h[i]! + L.l[i]!);
    splitInteger(p.q, L.w, L.q);
    splitInteger(p.tv, L.v, L.tv);
    splitInteger(p.tq, L.q, L.tq);
  }
}

export class PriceModel {
  private readonly paths = new Map<string, PricePath>();
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

  /**
   * Trades before second `s` (the id of the first trade at or after it): 3 a second plus noise in
   * 0..2, so every second has at least one trade, any candle's count is a difference of two values
   * and ids never skip.
   */
  private tradeId(code: number, s: number): number {
    return 3 * (s - this.listedSecond) + Math.floor(unit(this.seed ^ TRADES, code, s) * 3) - Math.floor(unit(this.seed ^ TRADES, code, this.listedSecond) * 3);
  }

  private withTrades(path: PricePath, shape: Shape, from: number, to: number): Candle {
    const firstTrade = this.tradeId(path.code, from / SEC);
    return { openTime: from, ...shape, firstTrade, trades: this.tradeId(path.code, Math.floor(to / SEC)) - firstTrade };
  }

  /** A whole 1m candle. */
  minute(symbol: string, t0: number): Candle {
    return this.partialMinute(symbol, t0, t0 + MIN);
  }

  /** The 1m candle starting at t0 as it stands at time `at` (t0 <= at <= t0 + 1m), to the second. */
  partialMinute(symbol: string, t0: number, at: number): Candle {
    const path = this.path(symbol);
    const e = Math.min(60, Math.max(0, Math.floor((at - t0) / SEC)));
    if (e === 60) {
      const hour = path.minutesOf(Math.floor(t0 / HOUR));
      const i = (t0 - Math.floor(t0 / HOUR) * HOUR) / MIN;
      return this.withTrades(path, hour.range(i, i + 1), t0, t0 + MIN);
    }
    // Forming: everything moves only at whole seconds, so forming updates never overshoot the final.
    const secs = path.secondsOf(t0 / MIN);
    const shape = e === 0 ? { o: secs.b[0]!, h: secs.b[0]!, l: secs.b[0]!, c: secs.b[0]!, v: 0, q: 0, tv: 0, tq: 0 } : secs.range(0, e);
    return this.withTrades(path, shape, t0, t0 + e * SEC);
  }

  /** Aggregate of the 1m candles in [from, to) (minute-aligned), up to `at` (partial last minute). */
  aggregate(symbol: string, from: number, to: number, at = Infinity): Candle | undefined {
    const path = this.path(symbol);
    let agg: Candle | undefined;
    const start = Math.max(from, Math.ceil(this.listedSince / MIN) * MIN);
    const end = Math.min(to, at);
    let t = start;
    while (t < end) {
      let part: Candle;
      if (t % DAY === 0 && t + DAY <= end) {
        part = this.withTrades(path, path.day(t / DAY), t, t + DAY);
        t += DAY;
      } else if (t % HOUR === 0 && t + HOUR <= end) {
        // Whole hours up to the end of the day (or the end) from the day's children.
        const d = Math.floor(t / DAY);
        const upTo = Math.min(d * DAY + DAY, Math.floor(end / HOUR) * HOUR);
        part = this.withTrades(path, path.hoursOf(d).range((t - d * DAY) / HOUR, (upTo - d * DAY) / HOUR), t, upTo);
        t = upTo;
      } else if (t + MIN <= end) {
        // Whole minutes up to the end of the hour (or the end) from the hour's children.
        const hr = Math.floor(t / HOUR);
        const upTo = Math.min(hr * HOUR + HOUR, Math.floor(end / MIN) * MIN);
        part = this.withTrades(path, path.minutesOf(hr).range((t - hr * HOUR) / MIN, (upTo - hr * HOUR) / MIN), t, upTo);
        t = upTo;
      } else {
        part = this.partialMinute(symbol, t, end);
        t += MIN;
      }
      agg = merge(agg, part);
    }
    return agg ? { ...agg, openTime: from } : undefined;
  }

  /** One candle of any interval whose bucket opens at `open`, as it stands at `at`. */
  candle(symbol: string, interval: string, open: number, at: number, tzOffsetMs = 0): Candle | undefined {
    if (interval === '1s') return this.second(symbol, open, at);
    return this.aggregate(symbol, open, nextOpen(open, interval, tzOffsetMs), at);
  }

  /** A 1s candle: one second of its minute. Until the second is over it is flat at its open with no trades, as Binance's forming 1s candle. */
  second(symbol: string, t0: number, at: number): Candle | undefined {
    if (t0 < this.listedSince) return undefined;
    const path = this.path(symbol);
    const m = Math.floor(t0 / MIN);
    const j = (t0 - m * MIN) / SEC;
    const secs = path.secondsOf(m);
    if (at < t0 + SEC) {
      const o = secs.b[j]!;
      return this.withTrades(path, { o, h: o, l: o, c: o, v: 0, q: 0, tv: 0, tq: 0 }, t0, t0);
    }
    return this.withTrades(path, secs.range(j, j + 1), t0, t0 + SEC);
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
