import { bucketOpen, nextOpen, parseInterval } from '../src/domain/interval.ts';

/**
 * Deterministic prices: a pure function of (seed, symbol, time), so REST, the stream and `truth` agree
 * exactly and any candle is computable without replaying history. The finest series is 1m; every
 * coarser candle is the exact aggregate of its 1m candles (prices are integers in ticks, volumes
 * integers), as on Binance.
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
  trades: number;
}

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Intra-minute sample offsets; the minute's close is the next minute's open. */
const SAMPLES = [0, 15_000, 30_000, 45_000];

const BASES: Record<string, number> = {
  BTCUSDT: 64000, ETHUSDT: 3200, BNBUSDT: 580, SOLUSDT: 145, XRPUSDT: 0.52, ADAUSDT: 0.45, DOGEUSDT: 0.12,
  TRXUSDT: 0.12, AVAXUSDT: 28, DOTUSDT: 6.5, LINKUSDT: 14, MATICUSDT: 0.7, LTCUSDT: 75, BCHUSDT: 380,
  ATOMUSDT: 7.5, UNIUSDT: 8.5, XLMUSDT: 0.1, ETCUSDT: 24, FILUSDT: 4.8, NEARUSDT: 5.2,
};
export const DEFAULT_SIM_SYMBOLS = Object.keys(BASES);

function hash32(a: number, b: number, c: number): number {
  let h = (a ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (b >>> 0), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13) ^ (c >>> 0), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}
const unit = (a: number, b: number, c: number) => hash32(a, b, c) / 4294967296;

function symbolCode(symbol: string): number {
  let h = 2166136261;
  for (let i = 0; i < symbol.length; i++) h = Math.imul(h ^ symbol.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Price scale of a symbol: base level and tick size. */
export function symbolSpec(symbol: string): { base: number; tick: number; decimals: number } {
  const base = BASES[symbol] ?? 1 + (symbolCode(symbol) % 5000) / 100;
  const decimals = base >= 100 ? 2 : base >= 1 ? 4 : 5;
  return { base, tick: 10 ** -decimals, decimals };
}

/** Octaves of value noise: (lattice spacing ms, amplitude in log-price). */
const OCTAVES: Array<[number, number]> = [
  [20_000, 0.0004],
  [MIN, 0.0008],
  [5 * MIN, 0.0012],
  [HOUR, 0.004],
  [DAY, 0.015],
  [10 * DAY, 0.05],
  [100 * DAY, 0.2],
];

export class PriceModel {
  private readonly hourCache = new Map<string, Candle>();
  private readonly dayCache = new Map<string, Candle>();
  private readonly minuteCache = new Map<string, Candle>();

  constructor(
    private readonly seed: number,
    readonly listedSince: number,
  ) {}

  /** Price in ticks at time t (ms). */
  ticks(symbol: string, t: number): number {
    const { code, base, tick } = this.spec(symbol);
    let logp = 0;
    for (let k = 0; k < OCTAVES.length; k++) {
      const [spacing, amp] = OCTAVES[k]!;
      const x = t / spacing;
      const i = Math.floor(x);
      const f = x - i;
      const s = f * f * (3 - 2 * f);
      const a = unit(this.seed + k, code, i) * 2 - 1;
      const b = unit(this.seed + k, code, i + 1) * 2 - 1;
      logp += amp * (a + (b - a) * s);
    }
    return Math.max(1, Math.round((base * Math.exp(logp)) / tick));
  }

  /** A whole 1m candle. */
  minute(symbol: string, t0: number): Candle {
    const key = `${symbol}:${t0}`;
    const hit = this.minuteCache.get(key);
    if (hit) return hit;
    const c = this.partialMinute(symbol, t0, t0 + MIN);
    if (this.minuteCache.size > 200_000) this.minuteCache.clear();
    this.minuteCache.set(key, c);
    return c;
  }

  /** The 1m candle starting at t0 as it stands at time `at` (t0 < at <= t0 + 1m). */
  partialMinute(symbol: string, t0: number, at: number): Candle {
    const elapsed = Math.min(MIN, Math.max(0, at - t0));
    const o = this.ticks(symbol, t0);
    let h = o;
    let l = o;
    for (const off of SAMPLES) {
      if (off === 0 || off > elapsed) continue;
      const p = this.ticks(symbol, t0 + off);
      if (p > h) h = p;
      if (p < l) l = p;
    }
    // The close moves only at sample points, so forming updates never overshoot the final candle.
    const lastSample = elapsed >= MIN ? MIN : SAMPLES.filter((s) => s <= elapsed).pop()!;
    const c = this.ticks(symbol, t0 + lastSample);
    if (c > h) h = c;
    if (c < l) l = c;
    const fullVolume = this.minuteVolume(symbol, t0);
    const v = elapsed >= MIN ? fullVolume : Math.floor((fullVolume * lastSample) / MIN);
    return { openTime: t0, o, h, l, c, v, trades: v * 3 };
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
      } else {
        part = t + MIN <= end ? this.minute(symbol, t) : this.partialMinute(symbol, t, end);
        t += MIN;
      }
      agg = merge(agg, part);
    }
    return agg ? { ...agg, openTime: from } : undefined;
  }

  private cached(cache: Map<string, Candle>, symbol: string, t: number, span: number): Candle {
    const key = `${symbol}:${t}`;
    let c = cache.get(key);
    if (!c) {
      c = span === DAY ? this.aggregateHours(symbol, t) : this.aggregateMinutes(symbol, t, t + span);
      if (cache.size > 300_000) cache.clear();
      cache.set(key, c);
    }
    return c;
  }

  /**
   * Whole minutes [from, to) in one pass over the sample points: a minute's high/low are the max/min
   * of its samples and its close is the next minute's open, so this equals merging the 1m candles.
   */
  private aggregateMinutes(symbol: string, from: number, to: number): Candle {
    const step = SAMPLES[1]!;
    const o = this.ticks(symbol, from);
    let h = o;
    let l = o;
    let c = o;
    for (let t = from + step; t <= to; t += step) {
      c = this.ticks(symbol, t);
      if (c > h) h = c;
      if (c < l) l = c;
    }
    let v = 0;
    for (let t = from; t < to; t += MIN) v += this.minuteVolume(symbol, t);
    return { openTime: from, o, h, l, c, v, trades: v * 3 };
  }

  private minuteVolume(symbol: string, t0: number): number {
    return 1 + Math.floor(unit(this.seed ^ 0x5bd1e995, this.code(symbol), t0 / MIN) * 400);
  }

  private readonly codes = new Map<string, { code: number; base: number; tick: number }>();
  private code(symbol: string): number {
    return this.spec(symbol).code;
  }
  private spec(symbol: string): { code: number; base: number; tick: number } {
    let c = this.codes.get(symbol);
    if (!c) this.codes.set(symbol, (c = { code: symbolCode(symbol), ...symbolSpec(symbol) }));
    return c;
  }

  private aggregateHours(symbol: string, from: number): Candle {
    let agg: Candle | undefined;
    for (let t = from; t < from + DAY; t += HOUR) agg = merge(agg, this.cached(this.hourCache, symbol, t, HOUR));
    return agg!;
  }

  /** One candle of any interval (1s aside) whose bucket opens at `open`, as it stands at `at`. */
  candle(symbol: string, interval: string, open: number, at: number, tzOffsetMs = 0): Candle | undefined {
    if (interval === '1s') return this.second(symbol, open, at);
    return this.aggregate(symbol, open, nextOpen(open, interval, tzOffsetMs), at);
  }

  /** 1s candles come straight from the price function (they do not aggregate into 1m). */
  second(symbol: string, t0: number, at: number): Candle | undefined {
    if (t0 < this.listedSince) return undefined;
    const o = this.ticks(symbol, t0);
    const c = at >= t0 + 1000 ? this.ticks(symbol, t0 + 1000) : o;
    const code = symbolCode(symbol);
    const v = at >= t0 + 1000 ? Math.floor(unit(this.seed ^ 0x1b873593, code, t0 / 1000) * 10) : 0;
    return { openTime: t0, o, h: Math.max(o, c), l: Math.min(o, c), c, v, trades: v };
  }

  /** Open time of the first bucket with data. */
  firstOpen(interval: string, tzOffsetMs = 0): number {
    return interval === '1s' ? Math.ceil(this.listedSince / 1000) * 1000 : bucketOpen(this.listedSince, parseInterval(interval), tzOffsetMs);
  }
}

function merge(a: Candle | undefined, b: Candle): Candle {
  if (!a) return { ...b };
  return { openTime: a.openTime, o: a.o, h: Math.max(a.h, b.h), l: Math.min(a.l, b.l), c: b.c, v: a.v + b.v, trades: a.trades + b.trades };
}
