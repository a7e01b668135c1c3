import { splitSeriesLabel } from './api.ts';
import type { SeriesDef, SeriesParamSpec } from './feed/wire.ts';
import { type IndicatorConfig, MAX_VIEW_SERIES } from './url-state.ts';

/** A `series=` entry taken out of the view, and why (shown to the user). */
export interface DroppedSeries {
  label: string;
  reason: string;
}

/** As the engine reads a number parameter: plain decimals only (no `1e2`, `0x10`, ` 5`). */
const DECIMAL_RE = /^-?\d{1,16}(\.\d{1,20})?$/;
/** As the engine reads a string parameter. */
const WORD_RE = /^[A-Za-z0-9._+-]{1,64}$/;

/** Why the engine would refuse `raw` for `spec`, or undefined when it takes it. */
function paramProblem(spec: SeriesParamSpec, raw: string): string | undefined {
  if (spec.type === 'boolean') return raw === 'true' || raw === 'false' ? undefined : `parameter '${spec.name}' must be true or false`;
  if (spec.type === 'string') {
    if (!WORD_RE.test(raw)) return `parameter '${spec.name}' is not a valid word`;
    return spec.options && !spec.options.includes(raw) ? `parameter '${spec.name}' must be one of ${spec.options.join(', ')}` : undefined;
  }
  const n = Number(raw);
  if (!DECIMAL_RE.test(raw) || !Number.isFinite(n)) return `parameter '${spec.name}' must be a number`;
  if (spec.integer && !Number.isInteger(n)) return `parameter '${spec.name}' must be a whole number`;
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return `parameter '${spec.name}' must be ${spec.min ?? '…'} to ${spec.max ?? '…'}`;
  return undefined;
}

/** Why the engine would refuse the whole socket for `label`, or undefined when the catalog says it takes it. */
function labelProblem(label: string, defs: readonly SeriesDef[]): string | undefined {
  const { name, params } = splitSeriesLabel(label);
  const def = defs.find((d) => d.name === name);
  if (!def) return `series '${name}' is not offered by this engine`;
  const seen = new Set<string>();
  for (const [k, raw] of params) {
    const spec = def.params.find((p) => p.name === k);
    if (!spec) return `series '${name}' has no parameter '${k}'`;
    if (seen.has(k)) return `series '${name}': parameter '${k}' given more than once`;
    seen.add(k);
    const problem = paramProblem(spec, raw);
    if (problem) return `series '${name}': ${problem}`;
  }
  return undefined;
}

/**
 * Splits the view's series into those the engine's catalog offers and those it would refuse. The
 * engine refuses a socket whole for one bad entry (unknown name, unknown or out-of-range parameter,
 * one twice), so a hand-edited or stale link blanked the chart, with nothing in the page to undo it
 * (a review). A series pinned to another interval is kept: the engine refuses that one alone. Past
 * MAX_VIEW_SERIES, the rest are dropped: the engine refuses a socket asking for more.
 */
export function offeredSeries(series: readonly IndicatorConfig[], defs: readonly SeriesDef[]): { kept: IndicatorConfig[]; dropped: DroppedSeries[] } {
  const kept: IndicatorConfig[] = [];
  const dropped: DroppedSeries[] = [];
  for (const cfg of series) {
    const problem =
      labelProblem(cfg.name, defs) ??
      (kept.some((k) => k.name === cfg.name) ? `series '${cfg.name}' is listed twice` : kept.length >= MAX_VIEW_SERIES ? `at most ${MAX_VIEW_SERIES} derived series at once: '${cfg.name}'` : undefined);
    if (problem) dropped.push({ label: cfg.name, reason: problem });
    else kept.push(cfg);
  }
  return { kept, dropped };
}

/** The page's notice for dropped entries. */
export function droppedNotice(dropped: readonly DroppedSeries[]): string | undefined {
  return dropped.length ? dropped.map((d) => `${d.reason}: removed from the view`).join('; ') : undefined;
}

/**
 * Whether the menu may turn a series on: offered on this interval (one pinned to another is offered
 * only to be turned off) and room under MAX_VIEW_SERIES (one more blanked the chart with the engine's
 * refusal of the whole socket). `why` is the button's title when it may not.
 */
export function seriesToggle(on: boolean, offered: boolean, count: number): { disabled: boolean; why?: string } {
  if (on) return { disabled: false };
  if (!offered) return { disabled: true };
  return count >= MAX_VIEW_SERIES ? { disabled: true, why: `at most ${MAX_VIEW_SERIES} derived series at once: turn one off first` } : { disabled: false };
}
