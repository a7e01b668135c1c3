// A client's `series=` parameter read into requests for derived series: names and parameters
// checked against the definitions, each with the label clients see, refused whole when malformed and
// one series at a time when this interval cannot serve it.
import { echo } from '../domain/echo.ts';
import { type Params, resolveParams, type SeriesDefinition, warmupBars } from './define-series.ts';

export interface SeriesRequest {
  def: SeriesDefinition;
  params: Params;
  /** `name` for default parameters, `name:period=21` otherwise: the label clients see. */
  label: string;
}

/**
 * A derived series a request names correctly that cannot be served on its interval (a warm-up longer
 * than the engine keeps, a definition pinned to another interval): refused alone, the request's
 * other series and its candles served (one such series took a whole chart away, a review).
 */
export interface SeriesRefusal {
  readonly label: string;
  readonly error: string;
  /** Set for a cap (variants, instances): asking again after this many seconds may be served. */
  readonly retryAfterSec?: number;
}

/** When a series refused at a cap is worth asking for again (s): caps free as clients leave. */
export const SERIES_CAP_RETRY_SEC = 30;

/**
 * The code of a request refused whole for its derived series (an unknown series, a bad parameter,
 * one twice, too many): with the entry's name, a client drops that one without reading the wording.
 */
export const BAD_SERIES = 'bad_series';

/** Derived series one request may ask for (`series=a,b,…`). */
export const MAX_SERIES_PER_REQUEST = 16;
/** Longest series label (`name:key=value;…`), as the cluster's instance keys allow. */
const MAX_LABEL = 300;

/**
 * Parses `ema-cross,rsi:period=21;source=open` into requests; an error names the bad part and the
 * valid names. A malformed request (an unknown series, a bad parameter, too many series, one twice)
 * is refused whole, with the `series` named by the part to blame (none for too many); a series well
 * named that this interval cannot serve is in `refused` (see SeriesRefusal), the others in `value`.
 */
export function parseSeries(
  spec: string | undefined,
  interval: string,
  request: (name: string, overrides: Record<string, string>, interval: string) => ReturnType<typeof requestSeries>,
): { ok: true; value: SeriesRequest[]; refused: SeriesRefusal[] } | { ok: false; error: string; series?: string } {
  if (!spec) return { ok: true, value: [], refused: [] };
  const out: SeriesRequest[] = [];
  const refused: SeriesRefusal[] = [];
  const parts = spec.split(',').filter(Boolean);
  // Refused, not truncated: a client that asked for 20 must not silently get 16.
  if (parts.length > MAX_SERIES_PER_REQUEST) return { ok: false, error: `at most ${MAX_SERIES_PER_REQUEST} series per request (asked for ${parts.length})` };
  for (const part of parts) {
    const [name = '', ...kvs] = part.split(':');
    // No prototype: `__proto__=1` must arrive as a key (and be refused), not set one.
    const overrides = Object.create(null) as Record<string, string>;
    for (const kv of kvs.flatMap((s) => s.split(';'))) {
      const eq = kv.indexOf('=');
      // An empty piece (`rsi:`, a trailing `;`) says nothing; a value with no name (`rsi:=5`) is refused.
      if (!kv) continue;
      const k = eq < 0 ? kv : kv.slice(0, eq);
      if (!k) return { ok: false, error: `series '${echo(name, 40)}': a parameter has no name ('${echo(kv, 40)}')`, series: echo(name, 40) };
      // Refused, not the last one silently winning (as a repeated query parameter is refused).
      if (k in overrides) return { ok: false, error: `series '${echo(name, 40)}': parameter '${echo(k, 40)}' given more than once`, series: echo(name, 40) };
      overrides[k] = eq < 0 ? '' : kv.slice(eq + 1);
    }
    const one = request(name, overrides, interval);
    if (!one.ok && one.label === undefined) return { ok: false, error: one.error, series: echo(name, 40) };
    const label = one.ok ? one.value.label : one.label!;
    // Refused: each repeat was serialized into the first message again (16 × rsi: 847 KB instead of
    // 132 KB) and counted as a new instance against the address's ration.
    if (out.some((r) => r.label === label) || refused.some((r) => r.label === label)) return { ok: false, error: `series '${echo(label, 80)}' asked for more than once`, series: echo(name, 40) };
    if (one.ok) out.push(one.value);
    else refused.push({ label, error: one.error });
  }
  return { ok: true, value: out, refused };
}

/**
 * One request: a series by name with parameter overrides (e.g. from a query string). An error with
 * a `label` is the series' own on this interval (its warm-up, its pinned interval), not the
 * request's: `parse` refuses that series alone.
 */
export function requestSeries(defs: ReadonlyMap<string, SeriesDefinition>, name: string, overrides: Record<string, string>, interval: string): { ok: true; value: SeriesRequest } | { ok: false; error: string; label?: string } {
  const def = defs.get(name);
  if (!def) return { ok: false, error: `unknown series '${echo(name, 40)}'; available series: ${[...defs.keys()].join(', ') || 'none'}` };
  let params: Params;
  let label: string;
  try {
    params = resolveParams(def, overrides);
    label = labelOf(def, params);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  // The cluster's bound on a label (a Redis key there), enforced in every role alike.
  if (label.length > MAX_LABEL) return { ok: false, error: `series '${name}': its parameters make a label longer than ${MAX_LABEL} characters` };
  if (def.interval && def.interval !== interval) return { ok: false, error: `series '${name}' is computed on ${def.interval} bars only`, label };
  try {
    warmupBars(def, params, interval);
  } catch (e) {
    return { ok: false, error: (e as Error).message, label };
  }
  return { ok: true, value: { def, params, label } };
}

function labelOf(def: SeriesDefinition, params: Params): string {
  const diff = Object.keys(params)
    .filter((k) => params[k] !== def.params[k])
    .sort()
    .map((k) => `${k}=${String(params[k])}`);
  return diff.length ? `${def.name}:${diff.join(';')}` : def.name;
}
