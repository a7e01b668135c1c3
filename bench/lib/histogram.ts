/**
 * A mergeable latency histogram in microseconds with ~1% relative precision (log buckets), so
 * workers can record millions of samples in constant memory and the parent can merge them exactly.
 */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const MAX_BUCKET = Math.ceil(Math.log(1e9) / LOG_GROWTH); // up to 1000 s

export interface HistogramData {
  /** Sparse bucket counts: [bucket, count] pairs. */
  buckets: Array<[number, number]>;
  count: number;
  max: number;
  sum: number;
}

export class Histogram {
  private readonly counts = new Float64Array(MAX_BUCKET + 1);
  count = 0;
  max = 0;
  sum = 0;

  record(us: number): void {
    const v = us < 1 ? 1 : us;
    const b = Math.min(MAX_BUCKET, Math.floor(Math.log(v) / LOG_GROWTH));
    this.counts[b]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(data: HistogramData): this {
    for (const [b, n] of data.buckets) this.counts[b]! += n;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
    return this;
  }

  /** Value at quantile q (0..1), the bucket's upper edge capped at the exact max. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b <= MAX_BUCKET; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(this.max, GROWTH ** (b + 1));
    }
    return this.max;
  }

  toJSON(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let b = 0; b <= MAX_BUCKET; b++) if (this.counts[b]) buckets.push([b, this.counts[b]!]);
    return { buckets, count: this.count, max: this.max, sum: this.sum };
  }

  static from(parts: readonly HistogramData[]): Histogram {
    const h = new Histogram();
    for (const p of parts) h.merge(p);
    return h;
  }
}

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return { samples: h.count, p50Ms: ms(h.quantile(0.5)), p90Ms: ms(h.quantile(0.9)), p99Ms: ms(h.quantile(0.99)), maxMs: ms(h.max) };
}
