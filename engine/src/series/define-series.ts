import type { OperatorFunction } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { parseInterval } from '../domain/interval.ts';

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
  /** Builds the operator for one (symbol, interval) from the (validated) parameters. */
  operator(params: P): OperatorFunction<Bar, SeriesPoint>;
}

export class SeriesDefinitionError extends TypeError {
  override readonly name = 'SeriesDefinitionError';
}

const NAME_RE = /^[a-z][a-z0-9-]{0,39}$/;

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
    if (!/^[a-zA-Z][a-zA-Z0-9]*$/.test(k)) throw new SeriesDefinitionError(`${d.name}: parameter name '${k}' must be alphanumeric`);
    if (!['number', 'string', 'boolean'].includes(typeof v)) throw new SeriesDefinitionError(`${d.name}: parameter '${k}' must default to a number, string or boolean`);
  }
  if (typeof d.operator !== 'function') throw new SeriesDefinitionError(`${d.name}: operator must be a function (params) => OperatorFunction<Bar, SeriesPoint>`);
}

/**
 * Applies client overrides (`period=21`) to the defaults, typed like the defaults; throws a
 * SeriesDefinitionError naming the bad parameter.
 */
export function resolveParams(def: SeriesDefinition, overrides: Record<string, string>): Params {
  const out: Params = { ...def.params };
  for (const [k, raw] of Object.entries(overrides)) {
    if (!(k in def.params)) throw new SeriesDefinitionError(`${def.name}: unknown parameter '${k}' (known: ${Object.keys(def.params).join(', ') || 'none'})`);
    const d = def.params[k];
    if (typeof d === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new SeriesDefinitionError(`${def.name}: parameter '${k}' must be a number, got '${raw.slice(0, 20)}'`);
      out[k] = n;
    } else if (typeof d === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new SeriesDefinitionError(`${def.name}: parameter '${k}' must be true or false`);
      out[k] = raw === 'true';
    } else out[k] = raw;
  }
  // Building the operator validates values (e.g. a period of 0 throws a TypeError naming the field).
  def.operator(out);
  return out;
}
