import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { BINANCE_INTERVALS, parseInterval } from '../domain/interval.ts';
import { echo } from '../domain/echo.ts';

/** One value of a derived series at a bar's open time; `closed` follows the bar's. */
export interface SeriesPoint {
  time: number;
  /** Single-valued series. */
  value?: number;
  /** Multi-valued series (e.g. MACD: macd, signal, histogram). */
  values?: Record<string, number>;
  closed: boolean;
}

export type ParamValue = number | string | boolean;
export type Params = Record<string, ParamValue>;

/** What values a client may give a parameter (checked before the operator is built). */
export interface ParamRange {
  /** Smallest number allowed (inclusive). */
  min?: number;
  /** Largest number allowed (inclusive). */
  max?: number;
  /** Whether only integers are allowed; default: whether the default value is one. */
  integer?: boolean;
  /** The strings allowed, for a string parameter. */
  options?: readonly string[];
}

/** Most warm-up bars a definition may declare: a request's warm-up is bounded by it. */
export const MAX_WARMUP_BARS = 5_000;
/** Warm-up bars of a definition that declares none. */
export const DEFAULT_WARMUP_BARS = 300;

/** What a module in SERIES_DIR default-exports. */
export interface SeriesDefinition<P extends Params = Params> {
  /** Lower-case name used in URLs (`?series=ema-cross`). */
  name: string;
  description?: string;
  /** Draw over the candles, or in a pane of its own. */
  pane: 'overlay' | 'oscillator';
  /** Keys of `values` the chart draws (default: all); others are data only (e.g. a ±1 signal). */
  plot?: string[];
  /** Bars of this interval feed it; unset: every configured interval. */
  interval?: string;
  /** Parameters and their defaults; a client may override them by name. */
  params: P;
  /** Ranges of the parameters a client may set; numbers are integers when their default is. */
  ranges?: { [K in keyof P]?: ParamRange };
  /**
   * Bars of warm-up a value needs (default 300, at most 5000; 0 for a series whose value at a bar
   * depends on that bar alone). Each value is computed from a run that starts between this many and
   * twice this many bars before it, at a fixed anchor, so it never depends on when it was asked for.
   */
  // (Method-style type: checked bivariantly, like `operator`, so a definition stays assignable.)
  warmup?: number | { fn(params: P, interval: string): number }['fn'];
  /** Builds the operator for one (symbol, interval) from the (validated) parameters. */
  operator(params: P): OperatorFunction<Bar, SeriesPoint>;
}

export class SeriesDefinitionError extends TypeError {
  override readonly name = 'SeriesDefinitionError';
}

const NAME_RE = /^[a-z][a-z0-9-]{0,39}$/;
/** Parameter names and client-given string values: what a series label (a Redis key in a cluster) may hold. */
const PARAM_NAME_RE = /^[a-zA-Z][a-zA-Z0-9]{0,39}$/;
const PARAM_WORD_RE = /^[A-Za-z0-9._+-]{1,64}$/;
/** GET /series' own query parameters: a series parameter so named was the page's there, the series' over a WebSocket. */
const RESERVED_PARAMS = new Set(['limit', 'endTime']);

/** Validates and returns a derived-series definition (use it as the module's default export). */
export function defineSeries<P extends Params>(def: SeriesDefinition<P>): SeriesDefinition<P> {
  validateDefinition(def);
  return def;
}

export function validateDefinition(def: unknown): asserts def is SeriesDefinition {
  if (typeof def !== 'object' || def === null) throw new SeriesDefinitionError('default export is not a series definition object (use defineSeries({...}))');
  const d = def as Partial<SeriesDefinition>;
  if (typeof d.name !== 'string' || !NAME_RE.test(d.name)) throw new SeriesDefinitionError(`name ${JSON.stringify(d.name)} must match ${NAME_RE}`);
  if (d.pane !== 'overlay' && d.pane !== 'oscillator') throw new SeriesDefinitionError(`${d.name}: pane must be 'overlay' or 'oscillator'`);
  if (d.interval !== undefined) parseInterval(d.interval);
  if (typeof d.params !== 'object' || d.params === null) throw new SeriesDefinitionError(`${d.name}: params must be an object of defaults`);
  for (const [k, v] of Object.entries(d.params)) {
    if (!PARAM_NAME_RE.test(k)) throw new SeriesDefinitionError(`${d.name}: parameter name '${k}' must be alphanumeric, at most 40 characters`);
    if (RESERVED_PARAMS.has(k)) throw new SeriesDefinitionError(`${d.name}: parameter name '${k}' is GET /series' own (${[...RESERVED_PARAMS].join(', ')}): choose another`);
    // A string a client could never send (a label is a Redis key in a cluster) cannot be a default either.
    if (typeof v === 'string' && !PARAM_WORD_RE.test(v)) throw new SeriesDefinitionError(`${d.name}: parameter '${k}' defaults to '${v}': strings are 1-64 letters, digits, '.', '_', '+' or '-'`);
    if (!['number', 'string', 'boolean'].includes(typeof v)) throw new SeriesDefinitionError(`${d.name}: parameter '${k}' must default to a number, string or boolean`);
    // No client can send one (parameters are plain decimals), and its label read `k=NaN`.
    if (typeof v === 'number' && !Number.isFinite(v)) throw new SeriesDefinitionError(`${d.name}: parameter '${k}' defaults to ${v}: a number parameter must default to a finite number`);
  }
  if (d.ranges !== undefined) {
    if (typeof d.ranges !== 'object' || d.ranges === null) throw new SeriesDefinitionError(`${d.name}: ranges must be an object keyed by parameter`);
    for (const [k, r] of Object.entries(d.ranges as Record<string, ParamRange>)) {
      if (!Object.hasOwn(d.params, k)) throw new SeriesDefinitionError(`${d.name}: ranges.${k} names no parameter`);
      for (const o of r.options ?? []) {
        if (typeof o === 'string' && !PARAM_WORD_RE.test(o)) throw new SeriesDefinitionError(`${d.name}: ranges.${k}.options holds '${o}', which no client can send: strings are 1-64 letters, digits, '.', '_', '+' or '-'`);
      }
      const problem = checkValue(k, d.params[k]!, r);
      if (problem) throw new SeriesDefinitionError(`${d.name}: the default of ${problem}`);
    }
  }
  if (d.warmup !== undefined && typeof d.warmup !== 'function') warmupBars(d as SeriesDefinition, d.params, d.interval ?? '1m');
  if (typeof d.operator !== 'function') throw new SeriesDefinitionError(`${d.name}: operator must be a function (params) => OperatorFunction<Bar, SeriesPoint>`);
  checkDefaultsRun(d as SeriesDefinition);
}

/**
 * The defaults must be able to run (a module that passed validation and then failed every request was
 * a review's finding): the operator is built once with them (resolveParams) and a warm-up given as a
 * function is evaluated for them, on the pinned interval, or else on each exchange interval: one that
 * throws or gives no whole number of bars is refused, and so is one over the cap on every interval.
 * (Over the cap on some intervals only is a refusal of those requests, as for a client's parameters.)
 */
function checkDefaultsRun(def: SeriesDefinition): void {
  resolveParams(def, {});
  if (typeof def.warmup !== 'function') return;
  const intervals: readonly string[] = def.interval ? [def.interval] : BINANCE_INTERVALS;
  let fits = false;
  let over: string | undefined;
  for (const interval of intervals) {
    let w: unknown;
    try {
      w = def.warmup(def.params, interval);
    } catch (e) {
      throw new SeriesDefinitionError(`${def.name}: warmup threw for the default parameters on ${interval}: ${(e as Error).message}`, { cause: e });
    }
    if (!Number.isInteger(w) || (w as number) < 0) throw new SeriesDefinitionError(`${def.name}: warmup for the default parameters on ${interval} must be an integer of bars from 0 to ${MAX_WARMUP_BARS}, got ${shown(w)}`);
    if ((w as number) <= MAX_WARMUP_BARS) fits = true;
    else over ??= `${w as number} bars on ${interval}`;
  }
  if (!fits) throw new SeriesDefinitionError(`${def.name}: warmup for the default parameters is more than the ${MAX_WARMUP_BARS} bars the engine keeps on every interval (${over})`);
}

/** A value in an error: a string quoted and said to be one (`warmup: '200'` read "got 200"). */
const shown = (v: unknown): string => (typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : String(v));

const DECIMAL_RE = /^-?\d{1,16}(\.\d{1,20})?$/;

/**
 * Applies client overrides (`period=21`) to the defaults, typed like the defaults; throws a
 * SeriesDefinitionError naming the bad parameter.
 */
export function resolveParams(def: SeriesDefinition, overrides: Record<string, string>): Params {
  const out: Params = { ...def.params };
  for (const [k, raw] of Object.entries(overrides)) {
    // Own declared parameters only: `constructor` or `toString` are on every object's prototype.
    if (!Object.hasOwn(def.params, k)) throw new SeriesDefinitionError(`${def.name}: unknown parameter '${echo(k, 40)}' (known: ${Object.keys(def.params).join(', ') || 'none'})`);
    const d = def.params[k];
    let value: ParamValue;
    if (typeof d === 'number') {
      // Plain decimals only, as `limit` and times are: no `1e2`, `0x10`, ` 5` or `Infinity`.
      const n = Number(raw);
      if (!DECIMAL_RE.test(raw) || !Number.isFinite(n)) throw new SeriesDefinitionError(`${def.name}: parameter '${k}' must be a number, got '${echo(raw, 20)}'`);
      value = n;
    } else if (typeof d === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new SeriesDefinitionError(`${def.name}: parameter '${k}' must be true or false`);
      value = raw === 'true';
    } else {
      // A label becomes a Redis key in a cluster: every role refuses what an edge could not ask for.
      if (!PARAM_WORD_RE.test(raw)) throw new SeriesDefinitionError(`${def.name}: parameter '${k}' must be 1-64 letters, digits, '.', '_', '+' or '-', got '${echo(raw, 20)}'`);
      value = raw;
    }
    const problem = checkValue(k, value, def.ranges?.[k], d);
    if (problem) throw new SeriesDefinitionError(`${def.name}: parameter ${problem}`);
    out[k] = value;
  }
  // Building the operator validates the rest (the building blocks throw a TypeError on a bad period).
  try {
    def.operator(out);
  } catch (e) {
    // Named once: an operator's own message often starts with its series' name already.
    const message = (e as Error).message;
    throw new SeriesDefinitionError(message.startsWith(`${def.name}: `) ? message : `${def.name}: ${message}`, { cause: e });
  }
  return out;
}

/** Why `value` is out of `range` (a phrase naming the parameter), or undefined when it fits. */
function checkValue(k: string, value: ParamValue, range: ParamRange | undefined, def: ParamValue = value): string | undefined {
  if (typeof value === 'number') {
    const integer = range?.integer ?? (typeof def === 'number' && Number.isInteger(def));
    if (integer && !Number.isInteger(value)) return `'${k}' must be an integer, got ${value}`;
    if (range?.min !== undefined && value < range.min) return `'${k}' must be >= ${range.min}, got ${value}`;
    if (range?.max !== undefined && value > range.max) return `'${k}' must be <= ${range.max}, got ${value}`;
  } else if (typeof value === 'string' && range?.options && !range.options.includes(value)) {
    return `'${k}' must be one of ${range.options.join(', ')}, got '${echo(value, 20)}'`;
  }
  return undefined;
}

/** The warm-up bars of a definition for parameters and an interval (validated, bounded). */
export function warmupBars(def: SeriesDefinition, params: Params, interval: string): number {
  const w = typeof def.warmup === 'function' ? def.warmup(params, interval) : (def.warmup ?? DEFAULT_WARMUP_BARS);
  // A whole number past the cap is a request this engine cannot warm: said as such (a series capped its
  // own instead, and showed values of a partial warm-up, a review).
  if (Number.isInteger(w) && w > MAX_WARMUP_BARS) throw new SeriesDefinitionError(`${def.name}: these parameters need ${w} bars of warm-up on ${interval}, more than the ${MAX_WARMUP_BARS} the engine keeps: use a longer interval or a shorter parameter`);
  if (!Number.isInteger(w) || w < 0) throw new SeriesDefinitionError(`${def.name}: warmup must be an integer of bars from 0 to ${MAX_WARMUP_BARS}, got ${shown(w)}`);
  return w;
}
