import type { SeriesPoint } from '../src/series/define-series.ts';

export type PointFormat = 'csv' | 'jsonl';

/**
 * Turns closed points into output lines. CSV columns are `time,iso,value`, or `time,iso,<key>…` for
 * a multi-valued series (keys from its first point); the header comes with the first point.
 */
export function pointFormatter(format: PointFormat): { line(p: SeriesPoint): string; header(): string } {
  let keys: string[] | undefined;
  let headerDone = format === 'jsonl';
  const columns = (p: SeriesPoint) => (keys ??= p.values ? Object.keys(p.values) : ['value']);
  return {
    line(p) {
      if (format === 'jsonl') return `${JSON.stringify(p.values ? { time: p.time, values: p.values } : { time: p.time, value: p.value })}\n`;
      const ks = columns(p);
      let prefix = '';
      if (!headerDone) {
        headerDone = true;
        prefix = `time,iso,${ks.join(',')}\n`;
      }
      const vals = p.values ? ks.map((k) => cell(p.values![k])) : [cell(p.value)];
      return `${prefix}${p.time},${new Date(p.time).toISOString()},${vals.join(',')}\n`;
    },
    /** What to write when no point came at all (CSV still gets its header). */
    header() {
      if (headerDone) return '';
      headerDone = true;
      return 'time,iso,value\n';
    },
  };
}

const cell = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : String(v));
