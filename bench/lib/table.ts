import type { Row } from '../scenarios/context.ts';
import type { ServerKind } from './server-under-test.ts';

export interface RowWithRatios extends Row {
  vsCeiling?: number;
  vsBaseline?: number;
  met?: boolean;
}

/** Adds the ratios engine/ceiling and engine/ws-baseline and whether the target is met. */
export function withRatios(row: Row): RowWithRatios {
  const { engine, ceiling } = row.values;
  const baseline = row.values['ws-baseline'];
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? Math.round((a / b) * 100) / 100 : undefined);
  const out: RowWithRatios = { ...row, vsCeiling: ratio(engine, ceiling), vsBaseline: ratio(engine, baseline) };
  const t = row.target;
  if (t && (t.vsCeiling !== undefined || t.vsBaseline !== undefined || t.engineMax !== undefined || t.engineMin !== undefined)) {
    const checks: boolean[] = [];
    // For 'higher' metrics the ratio must be at least the target; for 'lower' ones at most.
    const cmp = (r: number | undefined, want: number) => (r === undefined ? undefined : row.better === 'higher' ? r >= want : r <= want);
    // A reference not run in this invocation leaves its part of the target unjudged.
    const push = (c: boolean | undefined) => c !== undefined && checks.push(c);
    if (t.vsCeiling !== undefined) push(cmp(out.vsCeiling, t.vsCeiling));
    if (t.vsBaseline !== undefined) push(cmp(out.vsBaseline, t.vsBaseline));
    if (t.engineMax !== undefined && engine !== undefined) push(engine <= t.engineMax);
    if (t.engineMin !== undefined && engine !== undefined) push(engine >= t.engineMin);
    out.met = checks.length ? checks.every(Boolean) : undefined;
  }
  return out;
}

const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : Math.abs(x) >= 1e4 ? Math.round(x).toLocaleString('en-US') : String(x));

/** A Markdown table (also readable in a terminal). */
export function renderTable(rows: RowWithRatios[], servers: readonly ServerKind[]): string {
  const head = ['scenario', 'metric', 'unit', ...servers, 'engine/ceiling', 'engine/ws', 'target'];
  const lines = rows.map((r) => [
    r.scenario,
    r.metric,
    r.unit,
    ...servers.map((s) => fmt(r.values[s])),
    fmt(r.vsCeiling),
    fmt(r.vsBaseline),
    r.target ? `${r.target.label}${r.met === undefined ? '' : r.met ? ' ✔' : ' ✘'}` : r.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(line)].join('\n');
}
